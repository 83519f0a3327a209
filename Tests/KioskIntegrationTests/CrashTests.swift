import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal
import KioskTestSupport
import Testing

extension KioskIntegration {
    /// The money-safety rules (docs/money-safety.md) under SIGKILL: the daemon is killed at random
    /// points of many vends and restarted on the same journal each time, while a simulated machine
    /// keeps vending and customers keep paying. Then one clean run settles everything and the
    /// invariants are checked against every line the daemon ever wrote, the sandbox's invoices and
    /// the journal.
    ///
    /// Environment: `KIOSK_CRASH_SEED` replays a run (the seed is printed), `KIOSK_CRASH_KILLS`
    /// (default 200, in total) and `KIOSK_CRASH_RIGS` (default 2 independent rigs run side by
    /// side, each with its own sandbox, controller and journal, sharing the kills). A seed replays
    /// every random choice (kill points, delays, customers, machine restarts); the interleaving with
    /// the daemon's own timing can still differ from run to run.
    @Suite("Crash")
    struct CrashTests {
        struct Figures: Sendable, CustomStringConvertible {
            var seed: UInt64
            var kills = 0
            var lifetimes = 0
            var vends = 0
            var sessionsByState: [String: Int] = [:]
            var invoices = 0
            var paidInvoices = 0
            var dispenseLines = 0
            /// Where the kills landed: the protocol step waited for (or why none was).
            var killsAt: [String: Int] = [:]

            var description: String {
                "seed \(seed): \(kills) kills over \(lifetimes) daemon lifetimes, \(vends) vends, \(invoices) invoices "
                    + "(\(paidInvoices) paid), \(dispenseLines) DISPENSE lines, sessions \(sessionsByState.sorted { $0.key < $1.key }), "
                    + "kills after \(killsAt.sorted { $0.key < $1.key })"
            }
        }

        @Test(
            "SIGKILL at random points of many vends never dispenses twice, never forgets a payment, never leaves an orphan invoice"
        )
        func sigkillAtRandomPointsKeepsMoneySafe() async throws {
            let environment = ProcessInfo.processInfo.environment
            let seed =
                environment["KIOSK_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
            let totalKills = environment["KIOSK_CRASH_KILLS"].flatMap { Int($0) } ?? 200
            let rigs = max(1, environment["KIOSK_CRASH_RIGS"].flatMap { Int($0) } ?? 2)
            print(
                "crash test: seed \(seed) (replay with KIOSK_CRASH_SEED=\(seed)), \(totalKills) kills over \(rigs) rigs"
            )
            let started = ContinuousClock.now
            let figures = try await withThrowingTaskGroup(of: Figures.self) { group in
                for index in 0..<rigs {
                    let kills = totalKills / rigs + (index < totalKills % rigs ? 1 : 0)
                    let rigSeed = seed &+ UInt64(index) &* 0x9E37_79B9
                    group.addTask {
                        try await Self.crashRun(
                            seed: rigSeed, kills: kills, label: "rig \(index) of KIOSK_CRASH_SEED=\(seed)")
                    }
                }
                var all: [Figures] = []
                for try await figures in group { all.append(figures) }
                return all
            }
            let elapsed = ContinuousClock.now - started
            for figure in figures { print("crash test: \(figure)") }
            let kills = figures.reduce(0) { $0 + $1.kills }
            print(
                "crash test: \(kills) kills, \(figures.reduce(0) { $0 + $1.vends }) vends in \(elapsed), seed \(seed)")
            // The run proves something only if vends happened and kills landed in the money-critical
            // steps (after payment, around the dispense), not only at start-up or between vends.
            #expect(kills == totalKills, "\(kills) lifetimes ended by a kill, \(totalKills) planned")
            #expect(figures.reduce(0) { $0 + $1.vends } > 0, "no vend happened: the kills proved nothing")
            let critical: Set<String> = ["\(SimulatedMachine.Step.paid)", "\(SimulatedMachine.Step.dispenseReceived)"]
            let criticalKills = figures.reduce(0) { sum, figure in
                sum + figure.killsAt.filter { critical.contains($0.key) }.values.reduce(0, +)
            }
            if totalKills >= 30 {
                #expect(criticalKills > 0, "no kill landed after a payment or a DISPENSE: \(figures.map(\.killsAt))")
            }
        }

        /// One rig: `kills` lifetimes ended by SIGKILL, then a settling run and the invariants.
        static func crashRun(seed: UInt64, kills: Int, label: String) async throws -> Figures {
            var options = RigOptions()
            options.machineID = "CRASH-\(seed % 100_000)"
            options.paymentTimeoutSeconds = 2
            options.resumeGraceSeconds = 1
            options.requestTimeoutSeconds = 2
            // Hundreds of restarts each start with a fresh request budget; the sandbox must not
            // throttle the run to a crawl (rate limits are tested elsewhere).
            options.sandboxThrottleWindow = .seconds(1)
            return try await withKioskRig(options) { rig in
                var rng = SplitMix64(seed: seed)
                var figures = Figures(seed: seed)
                let (jobs, jobSink) = AsyncStream<@Sendable () async -> Void>.makeStream()
                let machine = SimulatedMachine(rig: rig, seed: seed ^ 0xA5A5_A5A5, jobs: jobSink)
                try await withThrowingDiscardingTaskGroup { group in
                    // Customers' payments and aborts, at their own times, across lifetimes.
                    group.addTask {
                        await withDiscardingTaskGroup { customers in
                            for await job in jobs { customers.addTask { await job() } }
                        }
                    }
                    for lifetime in 1...kills {
                        let point = try await Self.lifetime(
                            lifetime, rig: rig, machine: machine, rng: &rng, label: label)
                        figures.kills += 1
                        figures.killsAt[point, default: 0] += 1
                    }
                    jobSink.finish()
                }
                // Every customer has acted. The machine now waits for nothing; a clean run past the
                // resume grace lets recovery settle every open session, then SIGTERM.
                await machine.forgetEverything()
                try await rig.startDaemonAndWaitUntilReady(timeout: .seconds(30))
                await rig.sandbox.setAutoPay(after: nil)
                // Not thrown: a session that never settles is named by the invariants below,
                // which are all checked either way.
                let settled = await Self.waitUntil(timeout: .seconds(45)) {
                    let journal = try rig.openJournal()
                    defer { journal.close() }
                    return try journal.openSessions().isEmpty
                }
                _ = await Self.waitUntil(timeout: settled ? .seconds(15) : .zero) {
                    await rig.sandbox.invoices().allSatisfy { $0.status != .pending }
                }
                let ending = try await rig.stopDaemon()
                #expect(ending == .exited(0), "\(label) seed \(seed): the settling run ended with \(ending)")
                figures.lifetimes = await rig.lifetimes
                try await Self.checkInvariants(rig: rig, machine: machine, figures: &figures, label: label)
                return figures
            }
        }

        /// One daemon lifetime: start, let the machine act, wait for a random protocol step, wait
        /// a random 0-300 ms more, SIGKILL. Returns where the kill landed.
        static func lifetime(
            _ number: Int, rig: KioskRig, machine: SimulatedMachine, rng: inout SplitMix64, label: String
        ) async throws -> String {
            let from = await rig.lines.count
            try await rig.startDaemon()
            let pong = try await rig.waitForLink(timeout: .seconds(30))
            if rng.chance(0.1) {
                // Killed during start-up: API check and recovery in flight, nothing claimed yet.
                try await Task.sleep(for: rng.milliseconds(0...300))
                await rig.killDaemon()
                return "start-up"
            }
            // A machine waits for READY before it takes the next customer.
            try await rig.waitForReady(from: from, timeout: .seconds(30))
            let linkIndex = pong
            // Every 20th lifetime lives past the resume grace so that recovery cancels what nobody
            // claims (and gets killed in the middle of that too).
            let settle = number % 20 == 0
            let step = SimulatedMachine.Step.allCases.randomElement(using: &rng)!
            let extra = rng.milliseconds(0...300)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await machine.react() }
                let steps = try await machine.beginLifetime(number, linkIndex: linkIndex, maySendNewVend: !settle)
                let point: String
                if settle {
                    try await Task.sleep(for: .seconds(rig.options.resumeGraceSeconds) + .milliseconds(1_500))
                    point = "settling"
                } else {
                    let reached = await Self.first(step, in: steps, timeout: .milliseconds(2_500))
                    point = reached ? "\(step)" : "\(step) (not reached in 2.5 s)"
                }
                try await Task.sleep(for: extra)
                await rig.killDaemon()
                group.cancelAll()
                return point
            }
        }

        /// Waits for `step` on the stream; false when it did not come within `timeout`.
        static func first(
            _ step: SimulatedMachine.Step, in steps: AsyncStream<SimulatedMachine.Step>, timeout: Duration
        )
            async -> Bool
        {
            await withTimeout(timeout) {
                for await seen in steps where seen == step { return true }
                return false
            } ?? false
        }

        /// Waits (bounded) until `condition` holds; the daemon is another process, so there is
        /// no event to wait for: look again every 200 ms. A throwing look counts as "not yet".
        static func waitUntil(timeout: Duration, _ condition: () async throws -> Bool) async -> Bool {
            await eventually(timeout: timeout, every: .milliseconds(200), condition)
        }

        /// docs/money-safety.md, against everything the run left behind.
        static func checkInvariants(
            rig: KioskRig, machine: SimulatedMachine, figures: inout Figures, label: String
        ) async throws {
            let context = "\(label) seed \(figures.seed)"
            let lines = await rig.lines.lines
            let invoices = await rig.sandbox.invoices()
            let journal = try rig.openJournal()
            defer { journal.close() }
            let sessions = try journal.sessions(limit: Int.max)
            let sessionByTradeNo = Dictionary(
                sessions.map { ($0.tradeNo.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
            let invoiceByReference = Dictionary(
                invoices.map { ($0.reference.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
            let vends = await machine.vends
            figures.vends = vends.count
            figures.invoices = invoices.count
            figures.paidInvoices = invoices.filter { $0.status == .paid }.count
            for session in sessions { figures.sessionsByState[session.state.rawValue, default: 0] += 1 }

            // 1. At most one DISPENSE per vend id, across every lifetime.
            var dispenses: [String: [Int]] = [:]
            for (index, line) in lines.enumerated() where line.hasPrefix("DISPENSE ") {
                dispenses[String(line.dropFirst("DISPENSE ".count)), default: []].append(index)
            }
            figures.dispenseLines = dispenses.values.reduce(0) { $0 + $1.count }
            for (id, indices) in dispenses where indices.count > 1 {
                violation("\(context): vend \(id) got DISPENSE \(indices.count) times (lines \(indices))")
            }

            // 2. No dispense without payment: every DISPENSE maps to a session whose invoice is paid.
            for id in dispenses.keys {
                guard let vendID = VendID(id), let session = try journal.latestSession(vendID: vendID) else {
                    violation("\(context): DISPENSE \(id) has no session in the journal")
                    continue
                }
                guard let reference = session.reference,
                    let invoice = invoiceByReference[reference.rawValue.lowercased()]
                else {
                    violation("\(context): DISPENSE \(id) for session \(session.tradeNo) without a known invoice")
                    continue
                }
                if invoice.status != .paid {
                    violation("\(context): DISPENSE \(id) for invoice \(invoice.reference) that is \(invoice.status)")
                }
                if ![.dispensed, .refundDue, .dispenseUnknown].contains(session.state) {
                    violation("\(context): DISPENSE \(id) but its session ended \(session.state.rawValue)")
                }
            }

            // 3. A daemon dispenses only to a vend the controller claimed in that lifetime.
            let claims = await machine.claims
            let starts = await machine.lifetimeStarts.sorted { $0.key < $1.key }
            for (id, indices) in dispenses {
                for index in indices {
                    guard let lifetime = starts.last(where: { $0.value <= index })?.key else { continue }
                    if !(claims[lifetime] ?? []).contains(id) {
                        violation(
                            "\(context): DISPENSE \(id) (line \(index)) in lifetime \(lifetime), which never got VEND \(id)"
                        )
                    }
                }
            }

            // 4. No paid invoice is forgotten: each maps to its session, dispensed or refund due or unknown.
            for invoice in invoices where invoice.status == .paid {
                guard let session = sessionByTradeNo[invoice.tradeNo] else {
                    violation(
                        "\(context): paid invoice \(invoice.reference) (trade_no \(invoice.tradeNo)) has no session")
                    continue
                }
                if session.reference?.rawValue.lowercased() != invoice.reference.lowercased() {
                    violation(
                        "\(context): paid invoice \(invoice.reference) is not the invoice of session \(session.tradeNo) "
                            + "(\(session.reference?.rawValue ?? "none"), \(session.state.rawValue))")
                }
                if ![.dispensed, .refundDue, .dispenseUnknown].contains(session.state) {
                    violation(
                        "\(context): paid invoice \(invoice.reference) but session \(session.tradeNo) (vend \(session.vendID)) "
                            + "ended \(session.state.rawValue)")
                }
            }

            // 5. No orphan invoices: nothing left pending at the API.
            for invoice in invoices where invoice.status == .pending {
                let state = sessionByTradeNo[invoice.tradeNo]?.state.rawValue ?? "no session"
                violation(
                    "\(context): invoice \(invoice.reference) (trade_no \(invoice.tradeNo), \(state)) left pending")
            }

            // 6. Every refund due carries what an operator needs, and matches a payment.
            for session in sessions where session.state == .refundDue {
                guard let reference = session.reference else {
                    violation("\(context): refund due \(session.tradeNo) without an invoice reference")
                    continue
                }
                let invoice = invoiceByReference[reference.rawValue.lowercased()]
                if invoice?.status != .paid {
                    violation(
                        "\(context): refund due \(session.tradeNo) for invoice \(reference) that is \(invoice.map { "\($0.status)" } ?? "unknown")"
                    )
                }
                if session.price.minorUnits <= 0 || invoice.map({ $0.totalCents != session.price.minorUnits }) == true {
                    violation(
                        "\(context): refund due \(session.tradeNo) amount \(session.price) does not match its invoice")
                }
            }
            let refunds = try journal.refundsDue()
            #expect(
                Set(refunds.map(\.tradeNo)) == Set(sessions.filter { $0.state == .refundDue }.map(\.tradeNo)),
                "\(context)")

            // 7. Everything settled, and every dispensed session was dispensed by exactly one line.
            for session in sessions where !session.state.isFinal {
                violation(
                    "\(context): session \(session.tradeNo) (vend \(session.vendID)) still \(session.state.rawValue)")
            }
            for session in sessions where session.state == .dispensed && dispenses[session.vendID.rawValue]?.count != 1
            {
                violation(
                    "\(context): session \(session.tradeNo) is dispensed but DISPENSE \(session.vendID) was never sent")
            }
            for oddity in await machine.oddities {
                violation("\(context): \(oddity)")
            }
        }
    }
}

/// A broken money-safety invariant: recorded as a test issue (the run goes on to find the others).
private func violation(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
    Issue.record(Comment(rawValue: text), sourceLocation: sourceLocation)
}
