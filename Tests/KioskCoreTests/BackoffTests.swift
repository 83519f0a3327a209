import KioskCore
import Testing

@Suite("Backoff and withTimeout")
struct BackoffTests {

    @Test func doublesFromTheInitialPauseUpToTheCap() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        #expect(
            (0...7).map { backoff.delay(afterFailures: $0) } == [
                .milliseconds(100), .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .seconds(1), .seconds(1), .seconds(1),
            ])
        #expect(backoff.delay(afterFailures: .max) == .seconds(1))
    }

    @Test func aZeroInitialPauseStaysZeroAndEnds() {
        #expect(Backoff(initial: .zero, maximum: .seconds(5)).delay(afterFailures: .max) == .zero)
    }

    @Test func jitterStaysWithinItsFractionAndComesFromTheGivenGenerator() {
        let backoff = Backoff(initial: .seconds(8), maximum: .seconds(8))
        var first = SplitMix64(seed: 42)
        var second = SplitMix64(seed: 42)
        var spread: Set<Duration> = []
        for failures in 1...200 {
            let pause = backoff.delay(afterFailures: failures, jitter: 0.5, using: &first)
            #expect(pause >= .seconds(4) && pause <= .seconds(12), "\(pause)")
            #expect(pause == backoff.delay(afterFailures: failures, jitter: 0.5, using: &second))
            spread.insert(pause)
        }
        #expect(spread.count > 150, "the factor varies")
        var unused = SplitMix64(seed: 1)
        #expect(backoff.delay(afterFailures: 3, jitter: 0, using: &unused) == .seconds(8))
    }

    @Test func withTimeoutReturnsTheValueInTimeAndNilAfterTheDeadline() async throws {
        #expect(await withTimeout(.seconds(5)) { 7 } == 7)
        let started = ContinuousClock.now
        let late = await withTimeout(.milliseconds(50)) { () -> Int in
            try? await Task.sleep(for: .seconds(30))
            return 1
        }
        #expect(late == nil)
        #expect(ContinuousClock.now - started < .seconds(10), "the operation was cancelled, not awaited")
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            _ = try await withTimeout(.seconds(5)) { () throws -> Int in throw Refused() }
        }
    }
}
