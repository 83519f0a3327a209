/// When the pay screen fetches the invoice's QR image again. A plain value over clock readings
/// (seconds since 1970), tested without a clock.
///
/// The provider re-quotes a fiat invoice: a new Lightning request about every 30 s, each valid
/// about 30 s. Fetches are planned from what is known of the code on screen, within the image
/// origin's budget:
/// - a code with an expiry (BOLT11): one fetch `lead` seconds before it, so that a provider that
///   re-quotes early hands the new code over with no gap; then, while the screen has nothing
///   payable, a short burst just after the expiry (`burst`, seconds after it) and one fetch every
///   `retryAfterFailure` after that;
/// - a code without an expiry (a URL, a drawn picture): every `refreshSeconds` (0: never), and not
///   before the image's own freshness (`Cache-Control: max-age`, `Expires`) runs out;
/// - never more than `budget` fetches in any `window`, whatever the above asks for, so that a vend
///   held open up to the machine's patience never spends more than the origin allows.
///
/// Taking an expired code off the screen is not the schedule's job: the keeper does that at the
/// expiry itself, independently of any fetch (`isShowable`).
public struct PayCodeSchedule: Hashable, Sendable {
    /// `qr.refresh_s`: a conditional re-fetch this often for a code without an expiry; 0 = never.
    public var refreshSeconds: Double
    /// The one fetch before a code's expiry comes this long before it.
    public var lead: Double
    /// While nothing payable is on screen: fetches this long after the code went away, in turn.
    public var burst: [Double]
    /// After the burst (or when there never was a code), one fetch this long after the last.
    public var retryAfterFailure: Double
    /// At most this many fetches start in any `window` seconds.
    public var budget: Int
    public var window: Double
    /// Never two fetches closer than this.
    public var minimumGap: Double

    public init(
        refreshSeconds: Double, lead: Double = 2, burst: [Double] = [0.25, 1, 2.5, 5], retryAfterFailure: Double = 3,
        budget: Int = 12, window: Double = 61, minimumGap: Double = 0.25
    ) {
        precondition(budget >= 1, "a fetch budget needs at least one fetch")
        self.refreshSeconds = refreshSeconds
        self.lead = lead
        self.burst = burst
        self.retryAfterFailure = retryAfterFailure
        self.budget = budget
        self.window = window
        self.minimumGap = minimumGap
    }

    /// What the keeper knows when it plans its next fetch.
    public struct Situation: Hashable, Sendable {
        /// When the last fetch's answer came (or failed).
        public var lastFetch: Double
        /// When recent fetches started; those older than the window do not matter.
        public var recentFetches: [Double]
        /// Whether the screen shows a payable code now.
        public var showingCode: Bool
        /// The expiry of the code on screen; nil when it has none.
        public var expiresAt: Double?
        /// When the screen lost its payable code (the code's expiry); nil when it never had one.
        public var codeGoneAt: Double?
        /// Fetches made since then (or since the start, when there never was a code).
        public var attemptsWithoutCode: Int
        /// The image's own word that it does not change before this (HTTP freshness).
        public var freshUntil: Double?

        public init(
            lastFetch: Double, recentFetches: [Double] = [], showingCode: Bool, expiresAt: Double? = nil,
            codeGoneAt: Double? = nil, attemptsWithoutCode: Int = 0, freshUntil: Double? = nil
        ) {
            self.lastFetch = lastFetch
            self.recentFetches = recentFetches
            self.showingCode = showingCode
            self.expiresAt = expiresAt
            self.codeGoneAt = codeGoneAt
            self.attemptsWithoutCode = attemptsWithoutCode
            self.freshUntil = freshUntil
        }
    }

    /// The next fetch; nil: none is needed (a code without expiry and refresh off).
    public func nextFetch(_ s: Situation) -> Double? {
        var next: Double
        if s.showingCode {
            if let expiresAt = s.expiresAt {
                // Before the expiry, once, unless the image says it will not change by then.
                let early = expiresAt - lead
                let imageMayChange = (s.freshUntil ?? -.infinity) < expiresAt
                next = s.lastFetch < early && imageMayChange ? early : expiresAt + (burst.first ?? retryAfterFailure)
            } else {
                guard refreshSeconds > 0 else { return nil }
                next = max(s.lastFetch + refreshSeconds, s.freshUntil ?? -.infinity)
            }
        } else if let gone = s.codeGoneAt, s.attemptsWithoutCode < burst.count {
            next = gone + burst[s.attemptsWithoutCode]
        } else {
            next = s.lastFetch + retryAfterFailure
        }
        next = max(next, s.lastFetch + minimumGap)
        return max(next, earliestWithinBudget(s.recentFetches))
    }

    /// The earliest instant at which one more fetch keeps every `window` within `budget`.
    public func earliestWithinBudget(_ starts: [Double]) -> Double {
        guard starts.count >= budget else { return -.infinity }
        // The budget-th most recent start must have left the window.
        let newestFirst = starts.sorted(by: >)
        return newestFirst[budget - 1] + window
    }

    /// Whether a code that expires at `expiresAt` may be on screen at `now`.
    public static func isShowable(expiresAt: Double?, now: Double) -> Bool {
        guard let expiresAt else { return true }
        return now < expiresAt
    }
}
