import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal
import Testing

extension KioskIntegration {
    /// Issue 16: a vend journals four durable commits (the trade_no with the `requested` session;
    /// `invoiced`; `paid` together with `dispensing`; the end) and one note without fsync
    /// (`dispense_sent`). SIGKILL of the real daemon right after each merged commit, then a restart
    /// on the same journal: no second DISPENSE, no paid invoice forgotten, no invoice left pending.
    @Suite("Crash at the merged commits")
    struct CommitBoundaryCrashTests {
        static func vend(_ rig: KioskRig, _ id: String) async throws -> String {
            try await rig.send("VEND \(id) 5 1.50", thenWaitFor: "ACCEPT/DENY \(id)") {
                $0 == "ACCEPT \(id)" || $0.hasPrefix("DENY \(id) ")
            }
        }

        @Test(
            "killed after the trade_no+requested commit, create in flight: recovery finds the invoice and cancels it; the counter survived"
        )
        func killAfterRequestedCommit() async throws {
            try await withKioskRig { rig in
                try await rig.startDaemonAndWaitUntilReady()
                // The sandbox stores the invoice, then answers 1.5 s later: the kill lands after the
                // `requested` commit and after the create went out, before its answer.
                await rig.sandbox.setCreateLatency(.milliseconds(1_500))
                try await rig.simulator.sendLine("VEND req1 5 1.50")
                let requested = try await rig.waitForSession("req1", in: [.requested])
                _ = await CrashTests.waitUntil(timeout: .seconds(5)) {
                    await rig.sandbox.invoices().contains { $0.tradeNo == requested.tradeNo.rawValue }
                }
                await rig.killDaemon()
                let journal = try rig.openJournal()
                let events = try journal.events(tradeNo: requested.tradeNo).map(\.kind)
                journal.close()
                #expect(events == ["requested"])
                #expect(try rig.session(vendID: "req1")?.reference == nil)

                await rig.sandbox.setCreateLatency(nil)
                try await rig.startDaemonAndWaitUntilReady()
                // Nobody re-claims req1: after the grace it is cancelled at the API.
                let ended = try await rig.waitForSession(
                    "req1", in: [.cancelled, .failed, .refundDue], timeout: .seconds(20))
                #expect(ended.state == .cancelled)
                let invoices = await rig.sandbox.invoices().filter { $0.tradeNo == requested.tradeNo.rawValue }
                #expect(invoices.count == 1)
                #expect(invoices.allSatisfy { $0.status == .cancelled })
                // The next vend gets a new trade_no: the counter bump was in the same commit.
                #expect(try await Self.vend(rig, "req2") == "ACCEPT req2")
                let next = try #require(try rig.session(vendID: "req2"))
                #expect(next.tradeNo != requested.tradeNo)
                #expect(try await rig.stopDaemon() == .exited(0))
                #expect(await rig.count(of: "DISPENSE req1") == 0)
            }
        }

        @Test(
            "killed right after DISPENSE (paid+dispensing one commit, dispense_sent without fsync): dispense_unknown, never a second DISPENSE"
        )
        func killAfterPaidDispensingCommit() async throws {
            try await withKioskRig { rig in
                try await rig.startDaemonAndWaitUntilReady()
                #expect(try await Self.vend(rig, "dsp1") == "ACCEPT dsp1")
                let reference = try await rig.reference(vendID: "dsp1")
                #expect(await rig.sandbox.pay(reference))
                try await rig.expectLine("DISPENSE dsp1")
                await rig.killDaemon()
                let stored = try #require(try rig.session(vendID: "dsp1"))
                #expect(stored.state == .dispensing)
                let journal = try rig.openJournal()
                // (`qr_shown`, the pay code's audit note, comes between when the image was read.)
                let kinds = try journal.events(tradeNo: stored.tradeNo).map(\.kind).filter { $0 != "qr_shown" }
                journal.close()
                // Both decisions are there, from one transaction: never `dispensing` without `paid`.
                #expect(Array(kinds.prefix(4)) == ["requested", "invoice_created", "paid", "dispensing"])

                try await rig.startDaemonAndWaitUntilReady()
                // The controller asks again for the same vend: the outcome is unknown, never re-dispensed.
                _ = try? await rig.send(
                    "VEND dsp1 5 1.50", thenWaitFor: "an answer to the re-claim", timeout: .seconds(5)
                ) {
                    $0.hasSuffix(" dsp1") || $0.contains(" dsp1 ")
                }
                let ended = try await rig.waitForSession("dsp1", in: [.dispenseUnknown, .dispensed, .refundDue])
                #expect(ended.state == .dispenseUnknown)
                #expect(try await rig.stopDaemon() == .exited(0))
                #expect(await rig.count(of: "DISPENSE dsp1") == 1)
            }
        }

        @Test(
            "killed 0-120 ms after the payment lands: journal holds invoiced or dispensing, never paid alone; at most one DISPENSE; the payment ends dispensed, refund_due or dispense_unknown"
        )
        func killAroundPaidCommit() async throws {
            try await withKioskRig { rig in
                var seen: [String: Int] = [:]
                for round in 0..<6 {
                    let id = "pk\(round)"
                    try await rig.startDaemonAndWaitUntilReady()
                    #expect(try await Self.vend(rig, id) == "ACCEPT \(id)")
                    let reference = try await rig.reference(vendID: id)
                    #expect(await rig.sandbox.pay(reference))
                    try await Task.sleep(for: .milliseconds(round * 24))
                    await rig.killDaemon()
                    let stored = try #require(try rig.session(vendID: id))
                    seen[stored.state.rawValue, default: 0] += 1
                    #expect(stored.state == .invoiced || stored.state == .dispensing, "\(id): \(stored.state)")

                    try await rig.startDaemonAndWaitUntilReady()
                    // Re-claim: an `invoiced` session resumes and dispenses once; a `dispensing` one
                    // becomes dispense_unknown.
                    _ = try? await rig.send(
                        "VEND \(id) 5 1.50", thenWaitFor: "an answer to the re-claim", timeout: .seconds(5)
                    ) {
                        $0.hasSuffix(" \(id)") || $0.contains(" \(id) ")
                    }
                    if await rig.count(of: "DISPENSE \(id)") == 2 {
                        Issue.record("\(id): a second DISPENSE")
                    }
                    if stored.state == .invoiced {
                        _ = try? await rig.expectLine("DISPENSE \(id)", timeout: .seconds(5))
                        try? await rig.simulator.dispensed(id: id)
                    }
                    let ended = try await rig.waitForSession(
                        id, in: [.dispensed, .refundDue, .dispenseUnknown], timeout: .seconds(15))
                    #expect(await rig.count(of: "DISPENSE \(id)") <= 1, "\(id)")
                    if stored.state == .dispensing { #expect(ended.state == .dispenseUnknown, "\(id)") }
                    #expect(try await rig.stopDaemon() == .exited(0))
                }
                print("crash at the paid commit: journal after the kill \(seen.sorted { $0.key < $1.key })")
            }
        }
    }
}
