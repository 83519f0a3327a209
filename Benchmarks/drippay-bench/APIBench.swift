import DripPayAPI
import DripPaySandbox
import KioskCore

/// Answers every request in memory, so the client's own cost can be measured without a network.
private struct InMemoryStatusTransport: DripPayTransport {
    let body = Array(#"{"status":"pending"}"#.utf8)
    func send(_ request: HTTPExchange, timeout: Duration) async throws -> HTTPAnswer {
        HTTPAnswer(status: 200, headers: [("Content-Type", "application/json")], body: body)
    }
}

private func microseconds(_ d: Duration) -> Double {
    d.inSeconds * 1e6
}

/// `drippay-bench api`: the client's overhead per status poll, and the sandbox's throughput.
func runAPIBenchmarks() async throws {
    let clock = ContinuousClock()
    let reference = InvoiceReference("453ac6e9-19d9-4a1a-b904-6bb52c85c306")

    // 1. Client overhead per status poll, no network: request build + budget + decode + mapping.
    let iterations = 50_000
    for limited in [true, false] {
        // The budget is sized so it never makes a request wait: this measures its bookkeeping only.
        let client = try DripPayClient(
            baseURL: "https://api.example.com/api/v1", token: APIToken("1|benchmarktoken"), requestTimeout: .seconds(5),
            statusRequestsPerMinute: iterations + 2_000, transport: InMemoryStatusTransport(), rateLimited: limited)
        for _ in 0..<1000 { _ = try await client.status(reference) }  // warm-up
        let start = clock.now
        for _ in 0..<iterations { _ = try await client.status(reference) }
        let elapsed = start.duration(to: clock.now)
        print(
            "api: client overhead per status poll (in-memory transport, \(iterations) polls, budget \(limited ? "on" : "off")): "
                + String(format: "%.2f µs", microseconds(elapsed) / Double(iterations)))
    }

    // 2. Sandbox over loopback: status polls through the real client and libcurl (CurlTransport).
    let token = APISandbox.generateToken()
    let sandbox = APISandbox(
        tokens: [token: Set(Ability.allCases)], requestsPerMinute: 1_000_000_000,
        statusRequestsPerMinute: 1_000_000_000)
    try await sandbox.start()
    let client = try DripPayClient(
        baseURL: await sandbox.baseURL, token: APIToken(token), requestTimeout: .seconds(5), rateLimited: false)
    let usd = Currency(iso: "USD")!
    let invoice = try await client.createInvoice(
        CreateInvoiceRequest(
            machineID: "BENCH", tradeNo: TradeNo("BENCH-1"), currency: usd,
            items: [.init(description: "Soda", amount: Money(minorUnits: 150, currency: usd))]))
    for concurrency in [1, 8] {
        let maxRequests = 20_000
        let budget = Duration.seconds(5)
        let start = clock.now
        let deadline = start.advanced(by: budget)
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var n = 0
                    while n < maxRequests / concurrency, clock.now < deadline {
                        _ = try await client.status(invoice.reference)
                        n += 1
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = microseconds(start.duration(to: clock.now)) / 1e6
        print(
            "api: sandbox status polls over loopback, \(concurrency) concurrent client(s), client budgets and server throttle raised: "
                + String(format: "%d requests in %.2f s = %.0f requests/s", done, seconds, Double(done) / seconds))
    }
    await sandbox.stop()
}
