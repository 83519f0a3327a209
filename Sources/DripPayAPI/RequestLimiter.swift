import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How much of a budget a request may use. The seam for per-route priorities: today list
/// reads (trade_no lookups, which may read many pages) leave a quarter of the window to creates,
/// cancels and everything else, so a long lookup never starves a vend.
public enum RequestPriority: Hashable, Sendable {
    /// May use the whole budget.
    case normal
    /// Leaves a quarter of the budget (at least one grant) free for `normal` requests.
    case background

    func reserve(of limit: Int) -> Int {
        switch self {
        case .normal: return 0
        case .background: return limit >= 2 ? max(1, limit / 4) : 0
        }
    }
}

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
    /// deadline is not started: it throws `budgetRefused` at once (nothing was sent; not a 429).
    func acquire(for endpoint: Endpoint, priority: RequestPriority = .normal) async throws {
        let reserve = priority.reserve(of: budget.limit)
        while true {
            let t = now()
            if budget.tryAcquire(now: t, reserve: reserve) { return }
            let next = budget.nextAllowed(now: t, reserve: reserve)
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
}
