import KioskTestSupport
import Testing

@testable import DripPayAPI

@Suite("RateBudget (pure, fake time)")
struct RateBudgetTests {
    @Test func grantsABurstUpToTheLimitThenWaitsForTheOldestToLeaveTheWindow() {
        var budget = RateBudget(limit: 3, window: .seconds(60))
        for i in 0..<3 {
            let granted = budget.tryAcquire(now: .seconds(i))
            #expect(granted)
        }
        let granted1 = budget.tryAcquire(now: .seconds(10))
        #expect(!granted1)
        #expect(budget.nextAllowed(now: .seconds(10)) == .seconds(60))
        let granted2 = budget.tryAcquire(now: .seconds(60))
        #expect(granted2)
        #expect(budget.nextAllowed(now: .seconds(60)) == .seconds(61))
    }

    @Test func refillsAfterAQuietWindow() {
        var budget = RateBudget(limit: 2, window: .seconds(60))
        let granted3 = budget.tryAcquire(now: .zero)
        #expect(granted3)
        let granted4 = budget.tryAcquire(now: .zero)
        #expect(granted4)
        let granted5 = budget.tryAcquire(now: .seconds(200))
        #expect(granted5)
        let granted6 = budget.tryAcquire(now: .seconds(200))
        #expect(granted6)
        let granted7 = budget.tryAcquire(now: .seconds(200))
        #expect(!granted7)
    }

    @Test func aRetryAfterPauseHoldsEveryRequestUntilItEnds() {
        var budget = RateBudget(limit: 100, window: .seconds(60))
        let granted8 = budget.tryAcquire(now: .seconds(1))
        #expect(granted8)
        budget.pause(now: .seconds(1), retryAfter: .seconds(5))
        let granted9 = budget.tryAcquire(now: .seconds(3))
        #expect(!granted9)
        #expect(budget.nextAllowed(now: .seconds(3)) == .seconds(6))
        let granted10 = budget.tryAcquire(now: .seconds(6))
        #expect(granted10)
    }

    @Test func aShorterPauseDoesNotShortenALongerOne() {
        var budget = RateBudget(limit: 10)
        budget.pause(now: .zero, retryAfter: .seconds(30))
        budget.pause(now: .seconds(1), retryAfter: .seconds(2))
        #expect(budget.nextAllowed(now: .seconds(5)) == .seconds(30))
    }

    /// Property: whatever the request times, no window of 60 s (aligned anywhere, as the
    /// server's fixed window may be) holds more than the limit — where a token bucket of the
    /// same size would allow nearly twice as many across a window boundary.
    @Test(arguments: [1, 5, 60, 600])
    func neverMoreThanTheLimitInAnySixtySecondWindow(limit: Int) {
        var rng = SplitMix64(seed: UInt64(limit) &* 7919)
        var budget = RateBudget(limit: limit)  // default window: 61 s
        var now = Duration.zero
        var sent: [Duration] = []
        for _ in 0..<(limit * 6 + 50) {
            // Mostly bursts, sometimes long pauses; requests wait for their grant like the client.
            let gapMs = rng.next() % 4 == 0 ? Int64(rng.next() % 90_000) : Int64(rng.next() % 50)
            now += .milliseconds(gapMs)
            if !budget.tryAcquire(now: now) {
                now = budget.nextAllowed(now: now)
                let granted11 = budget.tryAcquire(now: now)
                #expect(granted11)
            }
            sent.append(now)
        }
        // Slide a 60 s window starting at every send time (the worst alignments).
        var maxInWindow = 0
        var j = 0
        for i in sent.indices {
            while j < sent.count, sent[j] < sent[i] + .seconds(60) { j += 1 }
            maxInWindow = max(maxInWindow, j - i)
        }
        #expect(maxInWindow <= limit)
    }
}
