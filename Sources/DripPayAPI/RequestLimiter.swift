import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Waits for grants from a `RateBudget` on an injected clock, paced by a `FleetPacer` that reads
/// the account's shared counters from every answer. Requests wait for their turn (a cancellable
/// sleep until the computed instant) rather than failing; a vend's own requests (`.vend`) skip
/// the pacing and wait only for the hard budget.
actor RequestLimiter {
    private var budget: RateBudget
    private(set) var pacer: FleetPacer
    private var random = SystemRandomNumberGenerator()
    private let now: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void

    init<C: Clock>(budget: RateBudget, clock: C) where C.Duration == Duration {
        self.budget = budget
        pacer = FleetPacer(ceilingPerMinute: budget.limit)
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleepUntil = { try await clock.sleep(until: origin.advanced(by: $0), tolerance: nil) }
    }

    /// Waits for budget. Within `DripPayClient.$requestDeadline`, a wait that would end past the
    /// deadline is not started: it throws `budgetRefused` at once (nothing was sent; not a 429).
    func acquire(for endpoint: Endpoint) async throws {
        let priority = endpoint.priority
        let reserve = priority.reserve(of: budget.limit)
        let jitter = Double.random(in: 0..<1, using: &random)
        while true {
            let t = now()
            let paced = priority.paceFactor.map { pacer.nextAllowed(now: t, factor: $0, jitter: jitter) } ?? t
            if paced <= t, budget.tryAcquire(now: t, reserve: reserve) {
                pacer.sent(at: t)
                return
            }
            let next = max(budget.nextAllowed(now: t, reserve: reserve), paced)
            if let deadline = DripPayClient.requestDeadline {
                let left = deadline.timeIntervalSinceNow
                let wait = next - t
                if Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18 > left {
                    let seconds = Int((Double(wait.components.seconds) + 0.999).rounded(.down))
                    throw DripPayError.budgetRefused(endpoint, waitSeconds: max(1, seconds))
                }
            }
            try await sleepUntil(next)
        }
    }

    func pause(retryAfter: Duration) { budget.pause(now: now(), retryAfter: retryAfter) }

    /// An answer carried the account's shared counters (`X-RateLimit-Limit`, `-Remaining`).
    func observe(limit: Int?, remaining: Int) { pacer.observe(limit: limit, remaining: remaining, at: now()) }
}
