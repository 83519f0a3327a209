import Foundation
import KioskCore
import KioskTestSupport

/// A vending machine's behaviour on top of the simulated controller, for the crash test: one vend
/// at a time; a vend still waiting when the daemon comes back is re-sent (`VEND` with the same
/// id); `DISPENSE` is answered `DISPENSED`, sometimes `FAILED`; customers pay (sandbox auto-pay or
/// an explicit payment at a random time), abort, or walk away; the machine's patience runs out.
///
/// It records what a real machine would notice, for the invariants: which vends it claimed in
/// which daemon lifetime, every `DISPENSE` it got.
actor SimulatedMachine {
    /// How a customer treats one vend.
    enum Customer: Sendable, CustomStringConvertible {
        /// The sandbox pays the invoice this long after it is created.
        case autoPay(Duration)
        /// Pays explicitly this long after the first ACCEPT (possibly after the deadline).
        case payAfter(Duration)
        /// Presses cancel this long after the first ACCEPT.
        case abort(Duration)
        /// Walks away: never pays.
        case walkAway

        var description: String {
            switch self {
            case .autoPay(let d): return "auto-pay after \(d)"
            case .payAfter(let d): return "pay after \(d)"
            case .abort(let d): return "abort after \(d)"
            case .walkAway: return "walk away"
            }
        }
    }

    enum Phase: Sendable { case requested, accepted, ended }

    struct Vend: Sendable {
        let id: String
        let customer: Customer
        let failsOnDispense: Bool
        var phase: Phase = .requested
        var lifetimesSent = 0
        var paymentScheduled = false
    }

    /// Protocol steps the crash driver can kill at.
    enum Step: Sendable, Hashable, CaseIterable {
        case vendSent, accepted, paid, dispenseReceived, outcomeSent, ended
    }

    private let rig: KioskRig
    private var rng: SplitMix64
    private let jobs: AsyncStream<@Sendable () async -> Void>.Continuation
    private(set) var vends: [String: Vend] = [:]
    private(set) var order: [String] = []
    private var current: String?
    private var nextNumber = 0
    /// Index of the next line of the daemon's to react to; carries over across lifetimes.
    private var cursor = 0
    private var lifetime = 0
    /// Vend ids the machine sent `VEND` for, per daemon lifetime.
    private(set) var claims: [Int: Set<String>] = [:]
    /// Index of the first line written by each lifetime (its PONG).
    private(set) var lifetimeStarts: [Int: Int] = [:]
    private var stepSink: AsyncStream<Step>.Continuation?
    /// Protocol oddities seen (ERROR lines, answers for vends it never sent).
    private(set) var oddities: [String] = []

    /// `jobs` runs payments and aborts later, inside the test's task group.
    init(rig: KioskRig, seed: UInt64, jobs: AsyncStream<@Sendable () async -> Void>.Continuation) {
        self.rig = rig
        rng = SplitMix64(seed: seed)
        self.jobs = jobs
    }

    /// A daemon lifetime begins (its PONG is at `linkIndex`): returns the steps stream for the
    /// driver, then sends what the machine wants (re-claim or a new vend).
    func beginLifetime(_ number: Int, linkIndex: Int, maySendNewVend: Bool) async throws -> AsyncStream<Step> {
        lifetime = number
        lifetimeStarts[number] = linkIndex
        claims[number] = []
        let (steps, sink) = AsyncStream<Step>.makeStream()
        stepSink?.finish()
        stepSink = sink
        if rng.chance(0.05) {
            // The machine itself restarts: it forgets its vend and says HELLO.
            try await rig.simulator.hello()
            if let id = current { vends[id]?.phase = .ended }
            current = nil
        }
        if let id = current, let vend = vends[id], vend.phase != .ended {
            if vend.lifetimesSent >= 4 || (vend.phase == .requested && vend.lifetimesSent >= 3) {
                // The machine's own patience is over: it stops asking, without a word.
                vends[id]?.phase = .ended
                current = nil
            } else {
                try await sendVend(id)
                return steps
            }
        }
        if maySendNewVend, rng.chance(0.9) { try await startNewVend() }
        return steps
    }

    /// Reads the daemon's lines from where it left off and reacts, until cancelled.
    func react() async {
        while !Task.isCancelled {
            guard let line = try? await rig.lines.line(at: cursor, timeout: .seconds(3600)) else { return }
            cursor += 1
            await handle(line)
        }
    }

    /// The machine gives up on whatever it waits for (before the final settling run).
    func forgetEverything() {
        if let id = current { vends[id]?.phase = .ended }
        current = nil
        stepSink?.finish()
        stepSink = nil
    }

    // MARK: Private

    private func startNewVend() async throws {
        nextNumber += 1
        let id = "v\(nextNumber)"
        let roll = Int.random(in: 0..<100, using: &rng)
        let customer: Customer
        switch roll {
        case 0..<35: customer = .autoPay(rng.milliseconds(0...600))
        case 35..<70: customer = .payAfter(rng.milliseconds(0...2_600))
        case 70..<82: customer = .abort(rng.milliseconds(0...1_500))
        default: customer = .walkAway
        }
        vends[id] = Vend(id: id, customer: customer, failsOnDispense: rng.chance(0.15))
        order.append(id)
        current = id
        if case .autoPay(let delay) = customer {
            await rig.sandbox.setAutoPay(after: delay)
        } else {
            await rig.sandbox.setAutoPay(after: nil)
        }
        try await sendVend(id)
    }

    private func sendVend(_ id: String) async throws {
        vends[id]?.lifetimesSent += 1
        claims[lifetime, default: []].insert(id)
        try await rig.simulator.vend(id: id, product: "5", price: "1.50")
        stepSink?.yield(.vendSent)
    }

    private func handle(_ line: String) async {
        let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
        guard let verb = fields.first else { return }
        let id = fields.count > 1 ? fields[1] : ""
        switch verb {
        case "ACCEPT":
            guard var vend = vends[id] else { return oddity("ACCEPT for a vend never sent: \(line)") }
            if vend.phase == .requested { vend.phase = .accepted }
            let schedule = !vend.paymentScheduled
            vend.paymentScheduled = true
            vends[id] = vend
            stepSink?.yield(.accepted)
            if schedule { scheduleCustomer(vend) }
        case "DISPENSE":
            guard let vend = vends[id] else { return oddity("DISPENSE for a vend never sent: \(line)") }
            stepSink?.yield(.dispenseReceived)
            vends[id]?.phase = .ended
            if current == id { current = nil }
            // The product comes out (or jams) a moment later.
            try? await Task.sleep(for: rng.milliseconds(0...40))
            if vend.failsOnDispense {
                try? await rig.simulator.failed(id: id, reason: "jam")
            } else {
                try? await rig.simulator.dispensed(id: id)
            }
            stepSink?.yield(.outcomeSent)
            stepSink?.yield(.ended)
        case "DENY":
            guard vends[id] != nil else { return oddity("DENY for a vend never sent: \(line)") }
            vends[id]?.phase = .ended
            if current == id { current = nil }
            stepSink?.yield(.ended)
        case "ERROR":
            oddity(line)
        default:
            break  // READY, OUT-OF-SERVICE, PONG
        }
    }

    private func scheduleCustomer(_ vend: Vend) {
        let rig = self.rig
        let id = vend.id
        switch vend.customer {
        case .autoPay(let delay):
            jobs.yield { [weak self] in
                try? await Task.sleep(for: delay)
                await self?.reachedPaid(id)
            }
        case .payAfter(let delay):
            jobs.yield { [weak self] in
                try? await Task.sleep(for: delay)
                // The journal holds the reference before ACCEPT went out.
                guard let reference = try? rig.session(vendID: id)?.reference else { return }
                if await rig.sandbox.pay(reference) { await self?.reachedPaid(id) }
            }
        case .abort(let delay):
            jobs.yield { [weak self] in
                try? await Task.sleep(for: delay)
                await self?.abortIfWaiting(id)
            }
        case .walkAway:
            break
        }
    }

    private func reachedPaid(_ id: String) {
        if current == id { stepSink?.yield(.paid) }
    }

    private func abortIfWaiting(_ id: String) async {
        guard current == id, vends[id]?.phase == .accepted else { return }
        // Once cancel is pressed the machine is done with this vend, whether or not the kiosk heard it.
        vends[id]?.phase = .ended
        current = nil
        try? await rig.simulator.abort(id: id)
        stepSink?.yield(.ended)
    }

    private func oddity(_ text: String) {
        oddities.append("lifetime \(lifetime): \(text)")
    }
}
