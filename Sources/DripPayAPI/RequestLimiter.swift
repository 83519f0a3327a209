import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Waits for grants from a `RateBudget` on an injected clock. Requests wait for their turn
/// (a cancellable sleep until the computed instant) rather than failing.
actor RequestLimiter {
    private var budget: RateBudget
    private let now: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void

    init<C: Clock>(budget: RateBudget, clock: C) where C.Duration == Duration {
        self.budget = budget
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleepUntil = { try await clock.sleep(until: origin.advanced(by: $0), tolerance: nil) }
    }

    /// Waits for budget. Within `DripPayClient.$requestDeadline`, a wait that would end past the
    /// deadline is not started: it throws `rateLimited` at once (nothing was sent).
    func acquire(for endpoint: Endpoint) async throws {
        while true {
            let t = now()
            if budget.tryAcquire(now: t) { return }
            let next = budget.nextAllowed(now: t)
            if let deadline = DripPayClient.requestDeadline {
                let left = deadline.timeIntervalSinceNow
                let wait = next - t
                if Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18 > left {
                    let seconds = Int((Double(wait.components.seconds) + 0.999).rounded(.down))
                    throw DripPayError.rateLimited(endpoint, retryAfter: max(1, seconds))
                }
            }
            try await sleepUntil(next)
        }
    }

    func pause(retryAfter: Duration) { budget.pause(now: now(), retryAfter: retryAfter) }
}
