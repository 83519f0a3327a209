import DripPaySandbox
import KioskCore
import KioskTestSupport
import Synchronization
import Testing

@testable import DripPayAPI

/// One HTTP request outside the client (the sandbox's admin routes, the pay page), over the
/// production transport.
func httpRequest(
    _ url: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8]? = nil
) async throws -> HTTPAnswer {
    try await CurlTransport().send(
        HTTPExchange(method: method, url: url, headers: headers, body: body), timeout: .seconds(2))
}

let fullToken = "7|FullAbilitiesTokenSecret0123456789"
let viewOnlyToken = "8|ViewOnlyTokenSecret0123456789"
let usd = Currency(iso: "USD")!

/// A running sandbox and a client for it; stopped by `finish()`.
struct Fixture {
    let sandbox: APISandbox
    let client: DripPayClient

    static func start(
        token: String = fullToken, timeout: Duration = .seconds(2), sandboxRequestsPerMinute: Int = 10_000,
        clock: any Clock<Duration> = ContinuousClock(), cancelledVisible: Bool = false
    ) async throws -> Fixture {
        let sandbox = APISandbox(
            tokens: [fullToken: Set(Ability.allCases), viewOnlyToken: [.viewInvoice]],
            requestsPerMinute: sandboxRequestsPerMinute, statusRequestsPerMinute: 10_000,
            cancelledInvoicesVisible: cancelledVisible)
        try await sandbox.start()
        let client = try DripPayClient(
            baseURL: await sandbox.baseURL, token: APIToken(token), requestTimeout: timeout,
            requestsPerMinute: 10_000, statusRequestsPerMinute: 10_000, clock: clock)
        return Fixture(sandbox: sandbox, client: client)
    }

    func finish() async { await sandbox.stop() }

    /// A fixture for the length of `body`; the sandbox is stopped (awaited) after it, also when it throws.
    static func with<Result>(
        token: String = fullToken, timeout: Duration = .seconds(2), sandboxRequestsPerMinute: Int = 10_000,
        clock: any Clock<Duration> = ContinuousClock(), cancelledVisible: Bool = false,
        _ body: (Fixture) async throws -> Result
    ) async throws -> Result {
        let fixture = try await start(
            token: token, timeout: timeout, sandboxRequestsPerMinute: sandboxRequestsPerMinute, clock: clock,
            cancelledVisible: cancelledVisible)
        return try await withTearDown(fixture, tearDown: { await $0.finish() }, body)
    }
}

func sodaRequest(_ tradeNo: String, amounts: [Int64] = [150]) -> CreateInvoiceRequest {
    CreateInvoiceRequest(
        machineID: "VVM-005", tradeNo: TradeNo(tradeNo), currency: usd,
        items: amounts.map { .init(description: "Soda", amount: Money(minorUnits: $0, currency: usd)) })
}

/// A clock whose sleeps return at once, jumping time forward to the deadline, and recording
/// each sleep: waits become visible without slowing the tests.
final class JumpClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by d: Duration) -> Instant { Instant(offset: offset + d) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private let state = Mutex<(now: Duration, sleeps: [Duration])>((.zero, []))
    var now: Instant { Instant(offset: state.withLock { $0.now }) }
    var minimumResolution: Duration { .nanoseconds(1) }
    /// How long each sleep lasted.
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        state.withLock {
            $0.sleeps.append(deadline.offset - $0.now)
            if deadline.offset > $0.now { $0.now = deadline.offset }
        }
    }
}
