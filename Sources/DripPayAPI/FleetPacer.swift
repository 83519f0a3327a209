import KioskCore

/// Paces one route of the API when every machine of a fleet spends the same per-token budget.
///
/// The API counts its limits per token (Laravel's throttle: `limit` hits in a window of a minute
/// that opens at its first hit) and says so on every answer (`X-RateLimit-Limit`,
/// `X-RateLimit-Remaining`). Each machine reads the shared remaining count: its drop between two
/// answers is what the whole account spent meanwhile. From that, additive increase and
/// proportional decrease (AIMD, as TCP shares a link): while the account spends less than
/// `headroom` of its limit, every machine adds a little to its own rate; when it spends more,
/// every machine scales its own rate down by the same factor, at once, to what fits. Machines that
/// see the same counter thus converge to equal shares, without knowing how many they are.
/// A pure value over "now" readings (a `Duration` since any fixed origin), tested without a clock.
public struct FleetPacer: Hashable, Sendable {
    /// The configured upper bound (`requests_per_minute`, `status_requests_per_minute`).
    public let ceilingPerMinute: Int
    /// The account's limit, as the server last said (the ceiling until it says).
    public private(set) var limitPerMinute: Int
    /// This machine's own rate now, requests a second.
    public private(set) var rate: Double
    /// The whole account's spending, requests a second, as last measured (nil before two answers).
    public private(set) var accountRate: Double?
    /// The fraction of the account's limit the fleet aims at.
    public var headroom = 0.8
    /// No machine goes slower than this (requests a second): a paying customer is always polled.
    public var minimumRate: Double
    /// The fraction of the window left above which nothing is paced (`isPlentiful`).
    public var plentiful = 0.8
    /// Shortest span between two answers that measures the account's rate (shorter is noise).
    public var measureSpan: Duration = .milliseconds(700)

    private var lastSent: Duration?
    /// What the last answer said was left of the window.
    private var lastRemaining: Int?
    /// The answer the next measurement starts from.
    private var mark: Mark?
    private struct Mark: Hashable, Sendable {
        var at: Duration
        var remaining: Int
        var sent: Int
    }
    private var sentCount = 0
    private var lastCut: Duration?

    public init(ceilingPerMinute: Int, minimumPerMinute: Int = 6) {
        precondition(ceilingPerMinute >= 1, "a pacer needs a ceiling of at least 1 a minute")
        self.ceilingPerMinute = ceilingPerMinute
        limitPerMinute = ceilingPerMinute
        minimumRate = Double(min(minimumPerMinute, ceilingPerMinute)) / 60
        // Start at a quarter of the ceiling: a machine that has not yet heard the counter does not
        // spend a fleet's whole window in its first seconds.
        rate = max(minimumRate, Double(ceilingPerMinute) / 60 / 4)
    }

    /// Whether the budget is plentiful: the last answer left at least `plentiful` of the window and
    /// the account spends no more than half its target (a fleet at its target is never plentiful,
    /// not even when a new window opens). Then requests are not paced at all (a lone
    /// machine, or a quiet fleet, keeps its full speed and its bursts); the hard budget still holds.
    public var isPlentiful: Bool {
        guard let remaining = lastRemaining else { return true }
        return Double(remaining) >= Double(limitPerMinute) * plentiful && (accountRate ?? 0) <= accountTarget / 2
    }

    /// What the fleet as a whole may spend, requests a second.
    public var accountTarget: Double { Double(limitPerMinute) / 60 * headroom }

    /// The gap between two of this machine's requests at its current rate.
    public var interval: Duration { .milliseconds(Int64((1000 / rate).rounded(.up))) }

    /// When the next request may go, `factor` intervals after the last one; `jitter` in 0..<1
    /// spreads it over a tenth of that so that machines started together do not stay in lockstep.
    public func nextAllowed(now: Duration, factor: Double = 1, jitter: Double = 0) -> Duration {
        guard let lastSent, !isPlentiful else { return now }
        let gap = interval * (factor * (0.95 + 0.1 * min(max(jitter, 0), 1)))
        return max(now, lastSent + gap)
    }

    /// A request went at `now`.
    public mutating func sent(at now: Duration) {
        sentCount += 1
        lastSent = now
    }

    /// An answer said the account's `limit` and what is `remaining` of it in the current window.
    public mutating func observe(limit: Int?, remaining: Int, at now: Duration) {
        if let limit, limit >= 1 { limitPerMinute = limit }
        lastRemaining = remaining
        guard let mark, now - mark.at >= measureSpan else {
            if self.mark == nil { self.mark = Mark(at: now, remaining: remaining, sent: sentCount) }
            return
        }
        self.mark = Mark(at: now, remaining: remaining, sent: sentCount)
        // A count that went up means a new window opened: nothing to measure across it.
        guard remaining <= mark.remaining else { return }
        let span = (now - mark.at).inSeconds
        let spent = Double(mark.remaining - remaining)
        let measured = spent / span
        accountRate = measured
        // This machine's own part of the drop (it may have gone faster than `rate` while unpaced).
        let own = Double(sentCount - mark.sent) / span
        if measured > accountTarget {
            // Everyone scales by the same factor, once per measuring span: the sum fits at once.
            if lastCut.map({ now - $0 >= measureSpan }) ?? true {
                rate = max(minimumRate, min(Double(ceilingPerMinute) / 60, max(rate, own)) * accountTarget / measured)
                lastCut = now
            }
        } else {
            // Additive increase, the same step for every machine whatever its rate (that is what
            // makes the shares equal): a two-hundredth of the account's target a second, so that
            // even a hundred machines together grow by half the target a second at most.
            rate = min(Double(ceilingPerMinute) / 60, rate + accountTarget / 200 * min(span, 5))
        }
        // The window's last tenth is kept for what cannot wait: below it, every machine slows in
        // proportion to what is left (at most by half a measuring span), whatever the measured rate says.
        let reserve = max(1, limitPerMinute / 10)
        if remaining < reserve {
            rate = max(minimumRate, rate * max(0.5, Double(max(remaining, 0)) / Double(reserve)))
        }
    }
}
