import KioskTestSupport
import Testing

@testable import DripPayAPI

/// Machines of one account, each polling as fast as its pacer lets it, against Laravel's throttle
/// (`limit` hits in a window that opens at its first hit and lasts 60 s), in simulated time.
struct SharedAccountSimulation {
    var machines: Int
    var limit = 600
    var ceiling = 600
    var latency: Duration = .milliseconds(30)
    /// The daemon's own floor between two polls of one session.
    var floor: Duration = .milliseconds(100)
    /// Machines that stop polling for a while (no customer), as (machine, from, to) in seconds.
    var idle: [(machine: Int, from: Double, to: Double)] = []

    struct Outcome {
        var sent: [Int]
        var rejected: [(machine: Int, at: Duration)] = []
        /// The longest gap between two accepted polls of each machine while it was polling, once
        /// pacing has settled (after 90 s: the first window's end can cut every machine).
        var longestGap: [Duration]
        var mostInAWindow = 0
    }

    func run(seconds: Int, seed: UInt64 = 1) -> Outcome {
        var random = SplitMix64(seed: seed)
        var pacers = (0..<machines).map { _ in FleetPacer(ceilingPerMinute: ceiling) }
        var next = (0..<machines).map { Duration.milliseconds(Int64($0) * 7) }
        var lastAccepted = [Duration?](repeating: nil, count: machines)
        var outcome = Outcome(
            sent: Array(repeating: 0, count: machines), longestGap: Array(repeating: .zero, count: machines))
        var windowStart: Duration?
        var count = 0
        let end = Duration.seconds(seconds)
        func isIdle(_ m: Int, _ t: Duration) -> Bool {
            idle.contains { $0.machine == m && t >= .seconds($0.from) && t < .seconds($0.to) }
        }
        while true {
            guard let m = next.indices.min(by: { next[$0] < next[$1] }), next[m] < end else { break }
            let t = next[m]
            if isIdle(m, t) {
                next[m] = t + .milliseconds(250)
                lastAccepted[m] = nil
                continue
            }
            let jitter = Double(random.next() % 1000) / 1000
            let allowed = pacers[m].nextAllowed(now: t, jitter: jitter)
            if allowed > t {
                next[m] = allowed
                continue
            }
            pacers[m].sent(at: t)
            outcome.sent[m] += 1
            if windowStart.map({ t >= $0 + .seconds(60) }) ?? true {
                windowStart = t
                count = 0
            }
            let remaining: Int
            if count >= limit {
                outcome.rejected.append((m, t))
                remaining = 0
            } else {
                count += 1
                outcome.mostInAWindow = max(outcome.mostInAWindow, count)
                remaining = limit - count
                if let last = lastAccepted[m], last > .seconds(90) {
                    outcome.longestGap[m] = max(outcome.longestGap[m], t - last)
                }
                lastAccepted[m] = t
            }
            pacers[m].observe(limit: limit, remaining: remaining, at: t + latency)
            next[m] = t + latency + floor
        }
        return outcome
    }
}

@Suite("Fleet pacer")
struct FleetPacerTests {
    @Test("a lone machine with plenty of budget is not paced at all")
    func loneMachine() {
        var pacer = FleetPacer(ceilingPerMinute: 600)
        #expect(pacer.nextAllowed(now: .seconds(1)) == .seconds(1))
        pacer.sent(at: .seconds(1))
        pacer.observe(limit: 600, remaining: 599, at: .milliseconds(1_030))
        #expect(pacer.isPlentiful)
        #expect(pacer.nextAllowed(now: .milliseconds(1_030)) == .milliseconds(1_030))
    }

    @Test("the shared count falling faster than the account's target: the rate is scaled down to fit at once")
    func proportionalDecrease() {
        var pacer = FleetPacer(ceilingPerMinute: 600)
        pacer.observe(limit: 600, remaining: 400, at: .seconds(10))
        // 200 hits in 2 s by the whole account: 100/s against a target of 8/s.
        pacer.observe(limit: 600, remaining: 200, at: .seconds(12))
        #expect(pacer.accountRate == 100)
        #expect(pacer.accountTarget == 8)
        #expect(!pacer.isPlentiful)
        let before = Double(600) / 60 / 4
        #expect(abs(pacer.rate - before * 8 / 100) < 1e-9)
        // And the next request waits for the paced interval.
        pacer.sent(at: .seconds(12))
        #expect(pacer.nextAllowed(now: .seconds(12)) == .seconds(12) + pacer.interval * 0.95)
    }

    @Test("under the target, every machine adds the same step; never over its ceiling")
    func additiveIncrease() {
        var pacer = FleetPacer(ceilingPerMinute: 60)
        let start = pacer.rate
        pacer.observe(limit: 60, remaining: 20, at: .seconds(0))
        pacer.observe(limit: 60, remaining: 20, at: .seconds(2))
        #expect(abs(pacer.rate - (start + pacer.accountTarget / 200 * 2)) < 1e-9)
        for second in 3..<400 { pacer.observe(limit: 60, remaining: 20, at: .seconds(Int64(second))) }
        #expect(pacer.rate == 1)
    }

    @Test("a window that opened between two answers measures nothing")
    func windowReset() {
        var pacer = FleetPacer(ceilingPerMinute: 600)
        pacer.observe(limit: 600, remaining: 10, at: .seconds(0))
        pacer.observe(limit: 600, remaining: 590, at: .seconds(1))
        #expect(pacer.accountRate == nil)
    }

    @Test("the account's limit comes from the server; the machine's own rate stays under its ceiling")
    func serverLimit() {
        var pacer = FleetPacer(ceilingPerMinute: 30)
        pacer.observe(limit: 60, remaining: 59, at: .seconds(0))
        #expect(pacer.limitPerMinute == 60)
        #expect(pacer.accountTarget == 60 * 0.8 / 60)
        for second in 1..<400 { pacer.observe(limit: 60, remaining: 59, at: .seconds(Int64(second))) }
        #expect(pacer.rate == 0.5)
    }

    @Test(
        "machines on one token, each polling flat out: no 429 after the first window, fair shares, short gaps",
        arguments: [1, 5, 10, 20])
    func sharedAccount(machines: Int) {
        // A fair share of 8 polls a second: every 1.25 s with 10 machines, every 2.5 s with 20 (whose
        // worst gaps, after a window's end cut everyone, reach twice that: split such a fleet over
        // two tokens, README "A fleet on one account").
        let gapBound: Duration = machines <= 10 ? .seconds(2) : .seconds(6)
        let outcome = SharedAccountSimulation(machines: machines).run(seconds: 300)
        let late = outcome.rejected.filter { $0.at > .seconds(60) }
        #expect(late.isEmpty, "\(late.count) rejected after the first minute: \(late.prefix(5).map(\.at))")
        #expect(outcome.mostInAWindow <= 600)
        let shares = outcome.sent.map(Double.init)
        #expect(shares.max()! <= 2 * shares.min()!, "unfair shares: \(outcome.sent)")
        #expect(outcome.longestGap.max()! <= gapBound, "a machine waited \(outcome.longestGap.max()!) for a poll")
    }

    @Test("machines that come and go: the rest speed up again, and none is throttled")
    func comingAndGoing() {
        var simulation = SharedAccountSimulation(machines: 10)
        simulation.idle = (0..<8).map { (machine: $0, from: 100, to: 200) }
        let outcome = simulation.run(seconds: 300)
        #expect(outcome.rejected.filter { $0.at > .seconds(60) }.isEmpty)
        // While eight are idle the two left get at least three times their crowded share.
        #expect(outcome.sent[9] > outcome.sent[0] + outcome.sent[0] / 3)
    }
}
