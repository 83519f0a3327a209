import DripPayAPI
import Foundation
import KioskCore
import KioskTestSupport
import Testing

@testable import DripPaySandbox

@Suite("Sandbox behaviour")
struct SandboxTests {
    private func state(limit: Int = 2) -> SandboxState {
        SandboxState(
            tokens: ["1|t": Set(Ability.allCases)], requestsPerMinute: limit, statusRequestsPerMinute: 600,
            throttleWindow: .seconds(60), cancelledInvoicesVisible: false)
    }

    private func ping(_ s: inout SandboxState, at seconds: Int) -> SandboxResponse? {
        let request = SandboxRequest(
            method: "GET", uri: "/api/v1/ping", headers: [("Authorization", "Bearer 1|t")], body: [])
        guard case .respond(let r) = s.handle(request, monotonic: .seconds(seconds), now: Date()) else { return nil }
        return r
    }

    private func header(_ r: SandboxResponse?, _ name: String) -> String? { r?.headers.first { $0.0 == name }?.1 }

    @Test func theFixedWindowThrottleAnswers429WithRetryAfterUntilTheWindowEnds() {
        var s = state(limit: 2)
        #expect(ping(&s, at: 0)?.status == 200)
        let second = ping(&s, at: 10)
        #expect(second?.status == 200)
        #expect(header(second, "X-RateLimit-Limit") == "2")
        #expect(header(second, "X-RateLimit-Remaining") == "0")
        let third = ping(&s, at: 15)
        #expect(third?.status == 429)
        #expect(header(third, "Retry-After") == "45")
        #expect(String(decoding: third?.body ?? [], as: UTF8.self) == #"{"message":"Too Many Attempts."}"#)
        #expect(ping(&s, at: 60)?.status == 200)
    }

    @Test func statusPollsHaveTheirOwnLargerBudget() {
        var s = state(limit: 1)
        #expect(ping(&s, at: 0)?.status == 200)
        let request = SandboxRequest(
            method: "GET", uri: "/api/v1/invoices/x/status", headers: [("Authorization", "Bearer 1|t")], body: [])
        guard case .respond(let r) = s.handle(request, monotonic: .seconds(1), now: Date()) else {
            Issue.record("dropped")
            return
        }
        #expect(r.status == 404)  // not throttled: it reached the application
        #expect(header(r, "X-RateLimit-Limit") == "600")
    }

    @Test func amountsAreParsedExactlyAndRoundedToEightPlaces() {
        #expect(SandboxState.decimalUnits("1.10") == 110_000_000)
        #expect(SandboxState.decimalUnits("0.123456789") == 12_345_679)
        #expect(SandboxState.decimalUnits("2") == 200_000_000)
        #expect(SandboxState.decimalUnits("-1") == 0)
        #expect(SandboxState.decimalUnits("1e2") == nil)
        #expect(SandboxState.decimal(30, places: 2) == "0.30")
    }

    @Test func timestampsAreISO8601WithOffsetLikeFoundationWritesThem() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        for seconds in [0, 951_782_400, 1_761_595_943, 4_102_444_799] {
            let date = Date(timeIntervalSince1970: TimeInterval(seconds))
            #expect(
                SandboxState.iso8601(date) == formatter.string(from: date).replacingOccurrences(of: "Z", with: "+00:00")
            )
        }
    }

    @Test func theJSONParserKeepsNumberLiteralsVerbatim() throws {
        let value = try JSON.parse(Array(#"{"a":[1.10,"x\"y",null,true],"b":{"c":-0.5e1}}"#.utf8))
        #expect(value["a"] == .array([.number("1.10"), .string("x\"y"), .null, .bool(true)]))
        #expect(value["b"]?["c"] == .number("-0.5e1"))
        #expect(throws: JSON.ParseError.self) { _ = try JSON.parse(Array("{\"a\":}".utf8)) }
    }

    @Test func answersCarryRateLimitHeadersOverHTTP() async throws {
        let sandbox = APISandbox(tokens: ["1|t": [.viewInvoice]], requestsPerMinute: 5)
        let port = try await sandbox.start()
        try await withTearDown(sandbox, tearDown: { await $0.stop() }) { sandbox in
            let response = try await httpRequest(
                "http://127.0.0.1:\(port)/api/v1/ping", headers: [("Authorization", "Bearer 1|t")])
            #expect(response.status == 200)
            #expect(response.headers(named: "X-RateLimit-Limit") == ["5"])
            #expect(response.headers(named: "X-RateLimit-Remaining") == ["4"])
            #expect(
                await sandbox.requests() == [SandboxRequestRecord(method: "GET", path: "/api/v1/ping", status: 200)])
        }
    }

    @Test func adminEndpointsInjectFaultsForTheCommandLine() async throws {
        let sandbox = APISandbox(tokens: ["1|t": Set(Ability.allCases)])
        let port = try await sandbox.start()
        try await withTearDown(sandbox, tearDown: { await $0.stop() }) { sandbox throws in
            let fault = "http://127.0.0.1:\(port)/_sandbox/faults/server-errors?count=1&status=502"
            #expect(try await httpRequest(fault, method: "POST", body: []).status == 200)
            let ping = "http://127.0.0.1:\(port)/api/v1/ping"
            #expect(try await httpRequest(ping, headers: [("Authorization", "Bearer 1|t")]).status == 502)
            #expect(try await httpRequest(ping, headers: [("Authorization", "Bearer 1|t")]).status == 200)
        }
    }
}
