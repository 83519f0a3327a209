import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal
import KioskTestSupport
import Synchronization
import Testing

extension KioskIntegration {
    /// The crash test's money-safety rules with `qibixx-mdb`: the real daemon against the
    /// simulated Qibixx adapter, killed with SIGKILL at random points of vends (while the
    /// customer pays, after the approval, around the result) and restarted on the same journal.
    /// MDB has no vend ids on the wire, so the checks are per machine vend (approvals the
    /// machine received while it waited on it) and per journal session.
    ///
    /// Environment: `KIOSK_CRASH_SEED` replays the random choices; `KIOSK_CRASH_MDB_KILLS`
    /// (default 40: the long run is done by hand, see the README).
    /// Approval lines (`C,VEND,<amount>`) each machine vend received while it was open.
    final class ApprovalTally: Sendable {
        let approvals = Mutex<[Int: Int]>([:])
        let current = Mutex<Int?>(nil)
    }

    @Suite("Crash (qibixx-mdb)")
    struct MDBCrashTests {
        @Test(
            "qibixx-mdb: SIGKILL at random points never approves twice, never approves unpaid, never forgets a payment")
        func sigkillWithQibixxMDBKeepsMoneySafe() async throws {
            let environment = ProcessInfo.processInfo.environment
            let seed =
                environment["KIOSK_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
            let kills = environment["KIOSK_CRASH_MDB_KILLS"].flatMap { Int($0) } ?? 40
            print("mdb crash test: seed \(seed) (replay with KIOSK_CRASH_SEED=\(seed)), \(kills) kills")
            var options = RigOptions()
            options.controller = .qibixxMDB
            options.machineID = "MDBCRASH-\(seed % 100_000)"
            options.paymentTimeoutSeconds = 2
            options.resumeGraceSeconds = 1
            options.requestTimeoutSeconds = 2
            options.sandboxThrottleWindow = .seconds(1)
            let started = ContinuousClock.now
            try await withKioskRig(options) { rig in
                var rng = SplitMix64(seed: seed)
                let tally = ApprovalTally()
                var vendCount = 0
                var approvalLinesSeen = 0
                for _ in 0..<kills {
                    let from = await rig.lines.count
                    try await rig.startDaemon()
                    _ = try await rig.lines.first(from: from, matching: "C,1", timeout: .seconds(20)) { $0 == "C,1" }
                    // The machine: one vend this lifetime, if the reader is enabled.
                    if await rig.simulator.adapter?.phase == .enabled {
                        vendCount += 1
                        tally.current.withLock { $0 = vendCount }
                        let roll = Int.random(in: 0..<100, using: &rng)
                        await rig.sandbox.setAutoPay(after: roll < 60 ? rng.milliseconds(0...900) : nil)
                        try await rig.simulator.adapterDoes("select") { $0.select(amount: "1.50", product: "5") }
                        let killAfter = rng.milliseconds(0...2_500)
                        let fails = rng.chance(0.15)
                        let cancels = roll >= 85
                        let resultDelay = rng.milliseconds(0...700)  // kills land between approval and result too
                        // React to this lifetime's lines until the kill.
                        await withTaskGroup(of: Void.self) { group in
                            group.addTask {
                                var cursor = from
                                while !Task.isCancelled {
                                    guard let line = try? await rig.lines.line(at: cursor, timeout: .seconds(30)) else {
                                        return
                                    }
                                    cursor += 1
                                    guard line.hasPrefix("C,VEND,"), line != "C,VEND,-1" else { continue }
                                    if let vend = tally.current.withLock({ $0 }) {
                                        tally.approvals.withLock { $0[vend, default: 0] += 1 }
                                    }
                                    try? await Task.sleep(for: resultDelay)
                                    _ = try? await rig.simulator.adapterDoes("result") {
                                        fails ? $0.failed() : $0.dispensed()
                                    }
                                }
                            }
                            if cancels {
                                group.addTask {
                                    try? await Task.sleep(for: killAfter / 2)
                                    _ = try? await rig.simulator.adapterDoes("cancel") { $0.cancelled() }
                                }
                            }
                            try? await Task.sleep(for: killAfter)
                            await rig.killDaemon()
                            group.cancelAll()
                        }
                        tally.current.withLock { $0 = nil }
                    } else {
                        try await Task.sleep(for: rng.milliseconds(0...300))
                        await rig.killDaemon()
                    }
                }
                // Settle: one clean run until every session has ended, then a graceful stop.
                await rig.sandbox.setAutoPay(after: nil)
                let from = await rig.lines.count
                try await rig.startDaemon()
                _ = try await rig.lines.first(from: from, matching: "C,1", timeout: .seconds(20)) { $0 == "C,1" }
                try await rig.waitUntilJournalSettled(timeout: .seconds(30))
                try await rig.stopDaemon()

                // Invariants.
                let lines = await rig.lines.lines
                approvalLinesSeen = lines.filter { $0.hasPrefix("C,VEND,") && $0 != "C,VEND,-1" }.count
                let invoices = await rig.sandbox.invoices()
                let journal = try rig.openJournal()
                defer { journal.close() }
                let sessions = try journal.sessions(limit: Int.max)
                let context = "mdb crash seed \(seed)"
                for (vend, count) in tally.approvals.withLock({ $0 }) where count > 1 {
                    Issue.record("\(context): machine vend \(vend) was approved \(count) times")
                }
                // Every approval went to a session whose invoice was paid.
                let paid = Set(invoices.filter { $0.status == .paid }.map(\.tradeNo))
                let reachedDispense = sessions.filter { [.dispensed, .dispenseUnknown].contains($0.state) }
                #expect(
                    approvalLinesSeen <= paid.count,
                    "\(context): \(approvalLinesSeen) approvals for \(paid.count) paid invoices")
                for session in reachedDispense where !paid.contains(session.tradeNo.rawValue) {
                    Issue.record(
                        "\(context): session \(session.tradeNo) ended \(session.state.rawValue) without a paid invoice")
                }
                // No payment forgotten, nothing left pending, nothing left open.
                let byTradeNo = Dictionary(sessions.map { ($0.tradeNo.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
                for tradeNo in paid {
                    let state = byTradeNo[tradeNo]?.state
                    if state.map({ ![.dispensed, .refundDue, .dispenseUnknown].contains($0) }) ?? true {
                        Issue.record(
                            "\(context): paid invoice of \(tradeNo) but its session is \(state?.rawValue ?? "missing")")
                    }
                }
                for invoice in invoices where invoice.status == .pending {
                    Issue.record("\(context): invoice \(invoice.reference) left pending")
                }
                for session in sessions where !session.state.isFinal {
                    Issue.record("\(context): session \(session.tradeNo) still \(session.state.rawValue)")
                }
                // A run with no vend, or no payment, proves nothing about approvals.
                if kills >= 10 {
                    #expect(vendCount > 0, "\(context): the machine never asked for a vend in \(kills) lifetimes")
                    #expect(!paid.isEmpty, "\(context): no invoice was paid in \(vendCount) vends")
                }
                // Vend ids never repeat across lifetimes (the journal's durable counter).
                let ids = sessions.map(\.vendID)
                #expect(Set(ids).count == ids.count, "\(context): a vend id was used twice")
                var states: [String: Int] = [:]
                for session in sessions { states[session.state.rawValue, default: 0] += 1 }
                print(
                    "mdb crash test: seed \(seed): \(kills) kills, \(vendCount) machine vends, \(sessions.count) sessions "
                        + "\(states.sorted { $0.key < $1.key }), \(invoices.count) invoices (\(paid.count) paid), "
                        + "\(approvalLinesSeen) approvals, in \(ContinuousClock.now - started)")
            }
        }
    }
}
