import Testing

@testable import KioskDaemon

@Suite("API health back-off")
struct APIHealthBackOffTests {
    @Test("out of service, the check waits longer after each failed one, up to the in-service interval")
    func doublesUpToTheCap() {
        let pauses = (0...7).map { APIHealthService.backOff(failedChecks: $0, first: .seconds(5), cap: .seconds(60)) }
        #expect(
            pauses == [
                .seconds(5), .seconds(5), .seconds(10), .seconds(20), .seconds(40), .seconds(60), .seconds(60),
                .seconds(60),
            ])
    }
}
