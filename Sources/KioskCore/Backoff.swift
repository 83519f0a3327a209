/// Capped exponential back-off: `initial` after the first failure, doubling after each further
/// one, never more than `maximum`; optionally jittered so that a fleet does not retry in one herd.
/// The one copy: the serial link's and the display's reopening, the journal's write probe, the
/// session retries, the poll loop and the API health check all use it.
public struct Backoff: Hashable, Sendable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        precondition(initial >= .zero && maximum >= initial, "back-off needs 0 <= initial <= maximum")
        self.initial = initial
        self.maximum = maximum
    }

    /// 0.1 s doubling up to 5 s.
    public static let standard = Backoff(initial: .milliseconds(100), maximum: .seconds(5))

    /// The wait after the `failures`-th failed attempt in a row (1 = first; 0 or less: `initial`).
    public func delay(afterFailures failures: Int) -> Duration {
        var delay = initial
        var step = 1
        // At most 64 doublings: a zero `initial` never reaches `maximum`.
        while step < min(failures, 64), delay < maximum {
            delay = delay * 2
            step += 1
        }
        return min(delay, maximum)
    }

    /// `delay(afterFailures:)` times a random factor in `1 - jitter ... 1 + jitter` (0 <= jitter <= 1)
    /// drawn from `random` (a seeded generator in tests).
    public func delay(
        afterFailures failures: Int, jitter: Double, using random: inout some RandomNumberGenerator
    ) -> Duration {
        precondition((0...1).contains(jitter), "jitter is a fraction between 0 and 1")
        let delay = delay(afterFailures: failures)
        guard jitter > 0 else { return delay }
        return delay * Double.random(in: (1 - jitter)...(1 + jitter), using: &random)
    }
}
