import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal
import Testing

extension KioskIntegration {
    /// One vend end to end through the real `drippay-kiosk run`: bytes on the serial line, rows in
    /// the journal, requests and invoices at the API sandbox.
    @Suite("Vend flow")
    struct VendFlowTests {
        /// Starts the daemon, checks the controller is told READY, and sends `VEND id 5 1.50`;
        /// returns the daemon's answer to it (`ACCEPT id` or `DENY id ...`).
        static func startAndVend(_ rig: KioskRig, id: String, price: String = "1.50") async throws -> String {
            try await rig.startDaemonAndWaitUntilReady()
            #expect(try await rig.hello() == "READY")
            return try await rig.send("VEND \(id) 5 \(price)", thenWaitFor: "ACCEPT/DENY \(id)") {
                $0 == "ACCEPT \(id)" || $0.hasPrefix("DENY \(id) ")
            }
        }

        static func creates(_ rig: KioskRig) async -> [SandboxRequestRecord] {
            await rig.sandbox.requests().filter { $0.method == "POST" && $0.path == "/api/v1/invoices" }
        }

        static func cancels(_ rig: KioskRig, _ reference: InvoiceReference) async -> [SandboxRequestRecord] {
            await rig.sandbox.requests().filter {
                $0.method == "DELETE" && $0.path.lowercased() == "/api/v1/invoices/\(reference.rawValue.lowercased())"
            }
        }

        @Test("paid: VEND, ACCEPT, payment, DISPENSE exactly once, DISPENSED; journal dispensed, invoice paid")
        func paidVendDispensesOnce() async throws {
            try await withKioskRig { rig in
                #expect(try await Self.startAndVend(rig, id: "paid1") == "ACCEPT paid1")
                let reference = try await rig.reference(vendID: "paid1")
                #expect(await rig.sandbox.pay(reference))
                try await rig.expectLine("DISPENSE paid1")
                try await rig.simulator.dispensed(id: "paid1")
                try await rig.waitForSession("paid1", in: [.dispensed])
                #expect(try await rig.stopDaemon() == .exited(0))

                #expect(await rig.count(of: "DISPENSE paid1") == 1)
                let session = try #require(try rig.session(vendID: "paid1"))
                #expect(session.state == .dispensed)
                #expect(session.reference == reference)
                #expect(session.price.minorUnits == 150)
                #expect(session.itemDescription == "Soda")
                let invoice = try #require(await rig.invoice(reference))
                #expect(invoice.status == .paid)
                #expect(invoice.tradeNo == session.tradeNo.rawValue)
                #expect(invoice.machineID == "ITEST-01")
                #expect(invoice.totalCents == 150)
                #expect(await Self.creates(rig).count == 1)
                #expect(await Self.cancels(rig, reference).isEmpty)
            }
        }

        @Test("timeout: no payment, DENY timeout, invoice cancelled at the API, journal cancelled")
        func unpaidVendTimesOut() async throws {
            try await withKioskRig { rig in
                #expect(try await Self.startAndVend(rig, id: "late1") == "ACCEPT late1")
                let reference = try await rig.reference(vendID: "late1")
                // payment_timeout_s = 3: the deny must come after it, and not much later.
                try await rig.expectLine("DENY late1 timeout", timeout: .seconds(10))
                try await rig.waitForSession("late1", in: [.cancelled])
                #expect(try await rig.stopDaemon() == .exited(0))

                #expect(await rig.count(of: "DISPENSE late1") == 0)
                #expect(await rig.invoice(reference)?.status == .cancelled)
                #expect(await Self.cancels(rig, reference).contains { $0.status == 200 || $0.status == 204 })
                #expect(try rig.session(vendID: "late1")?.state == .cancelled)
            }
        }

        @Test("abort: ABORT before payment, DENY aborted, invoice cancelled, journal cancelled")
        func abortedVendIsCancelled() async throws {
            try await withKioskRig { rig in
                #expect(try await Self.startAndVend(rig, id: "abort1") == "ACCEPT abort1")
                let reference = try await rig.reference(vendID: "abort1")
                let answer = try await rig.send("ABORT abort1", thenWaitFor: "DENY abort1") {
                    $0.hasPrefix("DENY abort1")
                }
                #expect(answer == "DENY abort1 aborted")
                try await rig.waitForSession("abort1", in: [.cancelled])
                #expect(try await rig.stopDaemon() == .exited(0))

                #expect(await rig.count(of: "DISPENSE abort1") == 0)
                #expect(await rig.invoice(reference)?.status == .cancelled)
                #expect(await !Self.cancels(rig, reference).isEmpty)
            }
        }

        @Test(
            "failed vend: paid, DISPENSE, FAILED jam; journal refund_due with reference and amount, listed by `journal refunds`"
        )
        func failedVendIsRefundDue() async throws {
            try await withKioskRig { rig in
                #expect(try await Self.startAndVend(rig, id: "jam1", price: "2.25") == "ACCEPT jam1")
                let reference = try await rig.reference(vendID: "jam1")
                #expect(await rig.sandbox.pay(reference))
                try await rig.expectLine("DISPENSE jam1")
                try await rig.simulator.failed(id: "jam1", reason: "jam")
                try await rig.waitForSession("jam1", in: [.refundDue])
                #expect(try await rig.stopDaemon() == .exited(0))

                #expect(await rig.count(of: "DISPENSE jam1") == 1)
                let journal = try rig.openJournal()
                let due = try journal.refundsDue()
                journal.close()
                #expect(due.count == 1)
                let refund = try #require(due.first)
                #expect(refund.vendID.rawValue == "jam1")
                #expect(refund.reference == reference)
                #expect(refund.price.minorUnits == 225)
                #expect(refund.price.currency.code == "USD")
                #expect(await rig.invoice(reference)?.status == .paid)

                let listing = try await runKioskCommand(["journal", "refunds", "--journal", rig.journalPath])
                #expect(listing.status == 0, "journal refunds: \(listing.stderr)")
                #expect(listing.stdout.contains(reference.rawValue))
                #expect(listing.stdout.contains(refund.tradeNo.rawValue))
                #expect(listing.stdout.contains("2.25"))
            }
        }

        @Test(
            "a refund due resolved with `journal resolve` while the daemon runs: the daemon sells on, leaves it as it was, and its gauge counts it no more"
        )
        func refundResolvedWhileTheDaemonRuns() async throws {
            try await withKioskRig { rig in
                #expect(try await Self.startAndVend(rig, id: "jam2") == "ACCEPT jam2")
                let reference = try await rig.reference(vendID: "jam2")
                #expect(await rig.sandbox.pay(reference))
                try await rig.expectLine("DISPENSE jam2")
                try await rig.simulator.failed(id: "jam2", reason: "jam")
                try await rig.waitForSession("jam2", in: [.refundDue])
                let refund = try #require(try rig.session(vendID: "jam2"))

                let resolve = try await runKioskCommand([
                    "journal", "resolve", refund.tradeNo.rawValue, "--note", "refunded 1.50 USD", "--by", "alice",
                    "--journal", rig.journalPath,
                ])
                #expect(resolve.status == 0, "journal resolve: \(resolve.stderr)")

                let answer = try await rig.send("VEND ok2 5 1.50", thenWaitFor: "ACCEPT/DENY ok2") {
                    $0 == "ACCEPT ok2" || $0.hasPrefix("DENY ok2 ")
                }
                #expect(answer == "ACCEPT ok2")
                #expect(await rig.sandbox.pay(try await rig.reference(vendID: "ok2")))
                try await rig.expectLine("DISPENSE ok2")
                try await rig.simulator.dispensed(id: "ok2")
                try await rig.waitForSession("ok2", in: [.dispensed])
                #expect(try await rig.stopDaemon() == .exited(0))

                #expect(try rig.session(vendID: "jam2") == refund)
                let journal = try rig.openJournal()
                let resolution = try journal.resolution(tradeNo: refund.tradeNo)
                journal.close()
                #expect(resolution?.resolvedBy == "alice" && resolution?.note == "refunded 1.50 USD")
                // Written at the second vend's end, after the resolution.
                let metrics = try String(contentsOfFile: rig.directory + "/metrics.prom", encoding: .utf8)
                #expect(metrics.contains("drippay_kiosk_open_audit_sessions{state=\"refund_due\"} 0\n"))
                #expect(metrics.contains("drippay_kiosk_vends_total{outcome=\"refund_due\"} 1\n"))
            }
        }

        @Test("duplicate vend id: a VEND with an id already dispensed is denied duplicate-id, with no second invoice")
        func duplicateVendIDIsDenied() async throws {
            try await withKioskRig { rig in
                #expect(try await Self.startAndVend(rig, id: "dup1") == "ACCEPT dup1")
                let reference = try await rig.reference(vendID: "dup1")
                #expect(await rig.sandbox.pay(reference))
                try await rig.expectLine("DISPENSE dup1")
                try await rig.simulator.dispensed(id: "dup1")
                try await rig.waitForSession("dup1", in: [.dispensed])

                let answer = try await rig.send("VEND dup1 5 1.50", thenWaitFor: "an answer to the repeated VEND dup1")
                {
                    $0.hasSuffix(" dup1") || $0.hasPrefix("DENY dup1")
                }
                #expect(answer == "DENY dup1 duplicate-id")
                #expect(try await rig.stopDaemon() == .exited(0))

                #expect(await rig.count(of: "DISPENSE dup1") == 1)
                #expect(await Self.creates(rig).count == 1)
                #expect(await rig.sandbox.invoices().count == 1)
                #expect(try rig.session(vendID: "dup1")?.state == .dispensed)
            }
        }

        @Test("a vend the controller re-claims after a daemon restart resumes on the same invoice and dispenses once")
        func reclaimedVendAfterRestartResumes() async throws {
            var options = RigOptions()
            options.paymentTimeoutSeconds = 20
            options.resumeGraceSeconds = 5
            try await withKioskRig(options) { rig in
                #expect(try await Self.startAndVend(rig, id: "back1") == "ACCEPT back1")
                let reference = try await rig.reference(vendID: "back1")
                await rig.killDaemon()
                try await rig.startDaemonAndWaitUntilReady()
                let answer = try await rig.send("VEND back1 5 1.50", thenWaitFor: "ACCEPT/DENY back1") {
                    $0 == "ACCEPT back1" || $0.hasPrefix("DENY back1")
                }
                #expect(answer == "ACCEPT back1")
                #expect(await rig.sandbox.pay(reference))
                try await rig.expectLine("DISPENSE back1")
                try await rig.simulator.dispensed(id: "back1")
                try await rig.waitForSession("back1", in: [.dispensed])
                #expect(try await rig.stopDaemon() == .exited(0))

                #expect(await rig.count(of: "DISPENSE back1") == 1)
                #expect(await Self.creates(rig).count == 1)
                #expect(try rig.session(vendID: "back1")?.reference == reference)
            }
        }
    }
}
