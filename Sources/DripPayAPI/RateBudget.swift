/// A client-side request budget: at most `limit` requests in any window of `window` length.
///
/// A pure value over "now" readings (a `Duration` since any fixed origin), tested with a fake
/// clock. It is a sliding-window log, not a token bucket: a bucket with burst N refilling N per
/// minute lets nearly 2N requests through one fixed 60 s server window (a full bucket spent at
/// the window's end, refilled tokens at the next one's start), and the server's Laravel throttle
/// counts fixed windows. Keeping the send times of the last `limit` requests guarantees at most
/// `limit` in every `window`, whatever the server's window alignment. `window` defaults to a
/// little over a minute so that network jitter cannot squeeze `limit + 1` requests into the
/// server's 60 s.
public struct RateBudget: Hashable, Sendable {
    public let limit: Int
    public let window: Duration
    /// Send times of the most recent grants, oldest first, at most `limit` of them.
    private var grants: [Duration] = []
    private var head = 0
    /// Set by a 429: nothing is granted before this.
    public private(set) var pausedUntil: Duration?

    public init(limit: Int, window: Duration = .seconds(61)) {
        precondition(limit >= 1, "a rate budget needs a limit of at least 1")
        self.limit = limit
        self.window = window
        grants.reserveCapacity(min(limit, 1024))
    }

    /// When the next request may go: `now` when it may go at once. A request that must leave
    /// `reserve` grants of the window free for others (a lower priority) waits until fewer than
    /// `limit - reserve` grants are in the window.
    public func nextAllowed(now: Duration, reserve: Int = 0) -> Duration {
        var at = now
        if let pausedUntil, pausedUntil > at { at = pausedUntil }
        let usable = max(1, limit - max(0, reserve))
        if grants.count >= usable {
            // The grant that must leave the window: the (count - usable)-th oldest.
            let blocking = grants[(head + grants.count - usable) % grants.count]
            if blocking + window > at { at = blocking + window }
        }
        return at
    }

    /// Takes a grant if one is available at `now` (leaving `reserve` free); returns false
    /// (taking nothing) otherwise.
    public mutating func tryAcquire(now: Duration, reserve: Int = 0) -> Bool {
        guard nextAllowed(now: now, reserve: reserve) <= now else { return false }
        if grants.count < limit {
            grants.append(now)
        } else {
            grants[head] = now
            head = (head + 1) % limit
        }
        return true
    }

    /// A 429 answered with `Retry-After: seconds`: nothing goes before `now + retryAfter`.
    public mutating func pause(now: Duration, retryAfter: Duration) {
        let until = now + retryAfter
        if let pausedUntil, pausedUntil >= until { return }
        pausedUntil = until
    }

    /// How many grants fall in `[now - window, now]`: for tests and metrics.
    public func grantsInWindow(endingAt now: Duration) -> Int {
        grants.filter { $0 > now - window && $0 <= now }.count
    }
}
