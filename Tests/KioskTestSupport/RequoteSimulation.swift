import PayCodes

/// A pay screen held open against a provider that re-quotes, in simulated time: the provider
/// issues quote k at `k * period`, payable until `k * period + lifetime`; a fetch takes `latency`
/// and brings the quote current when it reaches the provider. The keeper plans with
/// `PayCodeSchedule` and takes a code down at its expiry while a fetch is on its way, as
/// `PayCodeKeeper` does. `legacy` replays the schedule before re-quote planning (a fetch every
/// `refresh_s`, then once a second from 5 s before the expiry, waiting in line for the origin's
/// budget with the old code left on screen) so that a benchmark can put both side by side.
public struct RequoteSimulation: Sendable {
    public var period: Double
    public var lifetime: Double
    public var latency: Double
    public var schedule: PayCodeSchedule
    public var legacy: Bool

    public init(period: Double, lifetime: Double, latency: Double, schedule: PayCodeSchedule, legacy: Bool = false) {
        self.period = period
        self.lifetime = lifetime
        self.latency = latency
        self.schedule = schedule
        self.legacy = legacy
    }

    /// What one held-open vend saw.
    public struct Outcome: Sendable {
        /// When each fetch started.
        public var fetches: [Double] = []
        /// Seconds with no payable code on screen (waiting or refreshing), after the first code.
        public var secondsWithoutCode: Double = 0
        /// Seconds an expired code stayed on screen.
        public var secondsExpiredShown: Double = 0
        /// The most fetches that started in any `window`.
        public var mostInWindow = 0
    }

    /// Runs a vend whose pay screen is up from 0 to `duration`.
    public func run(duration: Double) -> Outcome {
        var out = Outcome()
        var shownQuote: Int?  // the quote on screen while `payable` (or, legacy, while expired)
        var payable = false
        var codeGoneAt: Double?
        var attempts = 0
        var t = 0.0
        var hadCode = false
        func expiry(_ quote: Int) -> Double { Double(quote) * period + lifetime }
        // Moves the time line to `end`, accounting what the screen shows. `blocked`: the keeper is
        // inside a fetch; the legacy keeper could not take an expired code down then.
        func advance(to end: Double, blocked: Bool) {
            guard end > t else { return }
            if payable, let q = shownQuote, expiry(q) < end {
                let e = max(t, expiry(q))
                if legacy && blocked {
                    out.secondsExpiredShown += end - e
                } else {
                    payable = false
                    codeGoneAt = expiry(q)
                    attempts = 0
                    out.secondsWithoutCode += end - e
                }
            } else if !payable, hadCode {
                out.secondsWithoutCode += end - t
            }
            t = end
        }
        var next = 0.0
        while next < duration {
            advance(to: next, blocked: false)
            // The old keeper waited in line for the budget inside its fetch; the new one plans
            // within the budget and never waits.
            let start = legacy ? max(next, schedule.earliestWithinBudget(out.fetches)) : next
            guard start < duration else { break }
            advance(to: start, blocked: true)
            out.fetches.append(start)
            let quote = Int(((start + latency / 2) / period).rounded(.down))
            let done = min(start + latency, duration)
            advance(to: done, blocked: true)
            if PayCodeSchedule.isShowable(expiresAt: expiry(quote), now: done) {
                if shownQuote != quote { attempts = 0 }
                shownQuote = quote
                payable = true
                codeGoneAt = nil
                hadCode = true
            } else {
                payable = false
                attempts += 1
            }
            let expiresAt = payable ? shownQuote.map(expiry) : nil
            if legacy {
                next = legacyNext(after: done, expiresAt: expiresAt)
            } else {
                let situation = PayCodeSchedule.Situation(
                    lastFetch: done, recentFetches: Array(out.fetches.suffix(schedule.budget)), showingCode: payable,
                    expiresAt: expiresAt, codeGoneAt: codeGoneAt, attemptsWithoutCode: attempts)
                next = schedule.nextFetch(situation) ?? .infinity
            }
            // The keeper wakes at the expiry to take the code down, whatever the next fetch.
            if let expiresAt, expiresAt < next, expiresAt < duration {
                advance(to: expiresAt, blocked: false)
                if legacy {
                    next = expiresAt  // the old keeper asked again at once
                } else {
                    let situation = PayCodeSchedule.Situation(
                        lastFetch: done, recentFetches: Array(out.fetches.suffix(schedule.budget)), showingCode: false,
                        codeGoneAt: codeGoneAt, attemptsWithoutCode: attempts)
                    next = min(next, schedule.nextFetch(situation) ?? .infinity)
                }
            }
        }
        advance(to: duration, blocked: false)
        for (i, start) in out.fetches.enumerated() {
            let count = out.fetches[i...].prefix { $0 < start + schedule.window }.count
            out.mostInWindow = max(out.mostInWindow, count)
        }
        return out
    }

    /// The schedule before re-quote planning: `refresh_s`, at the latest 5 s before the expiry,
    /// never faster than once a second; 3 s after a failure.
    private func legacyNext(after last: Double, expiresAt: Double?) -> Double {
        var next = schedule.refreshSeconds > 0 ? last + schedule.refreshSeconds : .infinity
        if let expiresAt { next = min(next, expiresAt - 5) } else { next = min(next, last + 3) }
        return max(next, last + 1)
    }
}
