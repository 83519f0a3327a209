/// When the pay screen fetches the invoice's QR image again, and whether the code it shows may
/// stay up. A plain value over clock readings (seconds since 1970), tested without a clock.
public struct PayCodeSchedule: Hashable, Sendable {
    /// `qr.refresh_s`: a conditional re-fetch this often; 0 = only for expiry.
    public var refreshSeconds: Double
    /// A BOLT11 code is re-fetched at the latest this long before its expiry.
    public var expiryMargin: Double
    /// Never two fetches closer than this (a code about to expire is asked for once a second).
    public var minimumGap: Double
    /// While nothing payable is on screen, a failed fetch is retried after this long.
    public var retryAfterFailure: Double

    public init(refreshSeconds: Double, expiryMargin: Double = 5, minimumGap: Double = 1, retryAfterFailure: Double = 3)
    {
        self.refreshSeconds = refreshSeconds
        self.expiryMargin = expiryMargin
        self.minimumGap = minimumGap
        self.retryAfterFailure = retryAfterFailure
    }

    /// The next fetch after one at `lastFetch`. `expiresAt` is the expiry of the code on screen
    /// (nil when it has none, e.g. a URL or a drawn image); `showingCode` is false while the
    /// screen has no payable code (first fetch failed, or the code expired). Nil: never again.
    public func nextFetch(after lastFetch: Double, expiresAt: Double?, showingCode: Bool) -> Double? {
        var next: Double?
        if refreshSeconds > 0 { next = lastFetch + refreshSeconds }
        if let expiresAt {
            let due = expiresAt - expiryMargin
            next = min(next ?? due, due)
        }
        if !showingCode { next = min(next ?? (lastFetch + retryAfterFailure), lastFetch + retryAfterFailure) }
        guard let next else { return nil }
        return max(next, lastFetch + minimumGap)
    }

    /// Whether a code that expires at `expiresAt` may be on screen at `now`.
    public static func isShowable(expiresAt: Double?, now: Double) -> Bool {
        guard let expiresAt else { return true }
        return now < expiresAt
    }
}
