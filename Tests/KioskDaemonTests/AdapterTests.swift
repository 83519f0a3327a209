import DripPayAPI
import DripPaySandbox
import Foundation
import KioskCore
import KioskDisplay
import KioskTestSupport
import Logging
import Testing
import VendSession

@testable import KioskDaemon

@Suite struct AdapterTests {
    @Test func routesAreNamedForTheMetrics() {
        let base = "http://127.0.0.1:1/api/v1"
        #expect(MeteredTransport.endpointName(method: "GET", url: base + "/ping", baseURL: base) == "ping")
        #expect(
            MeteredTransport.endpointName(method: "GET", url: base + "/invoices?page=1&per_page=100", baseURL: base)
                == "list")
        #expect(MeteredTransport.endpointName(method: "POST", url: base + "/invoices", baseURL: base) == "create")
        #expect(MeteredTransport.endpointName(method: "GET", url: base + "/invoices/abc", baseURL: base) == "view")
        #expect(
            MeteredTransport.endpointName(method: "GET", url: base + "/invoices/abc/status", baseURL: base) == "status")
        #expect(MeteredTransport.endpointName(method: "DELETE", url: base + "/invoices/abc", baseURL: base) == "cancel")
    }

    @Test func createFailuresAreSortedByWhetherAnInvoiceMayExist() {
        let e = Endpoint(method: "POST", path: "/invoices")
        func kind(_ error: DripPayError) -> String {
            switch DripPayInvoicePort.createFailure(error) {
            case .rejected(_, let invalid): return invalid ? "invalid" : "rejected"
            case .unavailable: return "unavailable"
            case .outcomeUnknown: return "unknown"
            case .unusable: return "unusable"
            }
        }
        #expect(kind(.validation(e, message: "bad", fields: [:])) == "invalid")
        #expect(kind(.forbidden(e, ability: .createInvoice)) == "rejected")
        #expect(kind(.unauthenticated(e)) == "rejected")
        #expect(kind(.notConnected(e, .refused(address: "127.0.0.1:1"))) == "unavailable")
        #expect(kind(.notConnected(e, .nameNotResolved(host: "api.example"))) == "unavailable")
        #expect(kind(.notConnected(e, .tls(.hostNameMismatch, detail: "no name matches"))) == "unavailable")
        #expect(kind(.notConnected(e, .proxy(.tunnelRefused(status: 403)))) == "unavailable")
        #expect(kind(.rateLimited(e, retryAfter: 5)) == "unavailable")
        #expect(kind(.budgetRefused(e, waitSeconds: 30)) == "unavailable")
        // The decision is on the type: a detail text never makes a lost connection "refused".
        #expect(kind(.connectionFailed(e, .reset(detail: "connection refused"))) == "unknown")
        #expect(kind(.redirected(e, status: 301, location: "https://x/api/v1/invoices")) == "rejected")
        #expect(kind(.connectionFailed(e, .reset(detail: "Connection reset by peer"))) == "unknown")
        #expect(kind(.connectionFailed(e, .tooLarge(limit: 8 << 20))) == "unknown")
        #expect(kind(.timeout(e, after: .seconds(10))) == "unknown")
        #expect(kind(.server(e, status: 502)) == "unknown")
        #expect(kind(.unusableInvoice(e, reference: InvoiceReference("r"), expected: "a payable code")) == "unusable")
    }

    @Test func cancellingAPaidInvoiceReportsAlreadyPaid() async throws {
        let token = APISandbox.generateToken()
        let sandbox = APISandbox(tokens: [token: Set(Ability.allCases)])
        let port = try await sandbox.start(port: 0)
        let metrics = KioskMetrics()
        let base = "http://127.0.0.1:\(port)/api/v1"
        let client = try DripPayClient(
            baseURL: base, token: APIToken(token), requestTimeout: .seconds(5),
            transport: MeteredTransport(CurlTransport(tokenOrigin: base), metrics: metrics, baseURL: base))
        let port_ = DripPayInvoicePort(client: client, machineID: "T-1")
        let usd = Currency(code: "USD", minorDigits: 2)
        let info = try await port_.createInvoice(
            tradeNo: TradeNo("T-1-a"), description: "Soda", price: Money(minorUnits: 150, currency: usd),
            offerBy: Date().addingTimeInterval(60))
        #expect(info.total == Money(minorUnits: 150, currency: usd))
        #expect(await sandbox.pay(info.reference))
        #expect(try await port_.status(of: info.reference) == .paid)
        #expect(await port_.cancel(info.reference) == .alreadyPaid)

        let second = try await port_.createInvoice(
            tradeNo: TradeNo("T-1-b"), description: "Soda", price: Money(minorUnits: 100, currency: usd),
            offerBy: Date().addingTimeInterval(60))
        #expect(await port_.cancel(second.reference) == .cancelled)
        #expect(
            await port_.cancel(second.reference) == .cancelled, "a second cancel (404, soft-deleted) is still cancelled"
        )
        // A status read of a soft-deleted invoice is a 404: the session, not the adapter, decides
        // what it means, so the adapter reports it as such rather than as "cancelled".
        await #expect(throws: InvoiceNotFound(reference: second.reference)) {
            try await port_.status(of: second.reference)
        }
        let text = metrics.render()
        #expect(text.contains("endpoint=\"create\""))
        #expect(text.contains("endpoint=\"cancel\",status=\"404\"} 1"))
        await sandbox.stop()
    }

    @Test func payScreenCountsDownFromTheDeadline() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let usd = Currency(code: "USD", minorDigits: 2)
        let intent = ScreenIntent.pay(
            qrPayload: "x", product: "Soda", price: Money(minorUnits: 150, currency: usd),
            deadline: now.addingTimeInterval(65))
        guard case .pay(let pay) = DisplayScreenPort.screen(for: intent, now: now) else {
            Issue.record("not a pay screen")
            return
        }
        #expect(pay.secondsLeft == 65)
        #expect(pay.countdown == "1:05")
        guard case .pay(let late) = DisplayScreenPort.screen(for: intent, now: now.addingTimeInterval(100)) else {
            return
        }
        #expect(late.secondsLeft == 0)
    }

    @Test func countdownTicksWhileThePayScreenIsUpAndStopsOnTheNext() async throws {
        let display = RecordingDisplay()
        let clock = ManualClock()
        let port = DisplayScreenPort(
            output: display, now: { clock.wallNow() }, logger: Logger(label: "test"),
            sleep: { try await clock.sleep(for: $0) })
        let usd = Currency(code: "USD", minorDigits: 2)
        /// Bounded wait for the port's own task to catch up (a hang guard, not a timing assertion).
        func settled(_ condition: @Sendable () async -> Bool) async -> Bool {
            for _ in 0..<10_000 {
                if await condition() { return true }
                try? await Task.sleep(for: .milliseconds(1))
            }
            return false
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await port.run() }
            await port.show(
                .pay(
                    qrPayload: "x", product: "Soda", price: Money(minorUnits: 150, currency: usd),
                    deadline: clock.wallNow().addingTimeInterval(30)))
            #expect(await settled { await display.shown.count == 1 && clock.sleeperCount == 1 })
            clock.advance(by: .seconds(1))
            #expect(await settled { await display.shown.count == 2 && clock.sleeperCount == 1 })
            clock.advance(by: .seconds(1))
            #expect(await settled { await display.shown.count == 3 && clock.sleeperCount == 1 })
            await port.show(.idle)
            #expect(await settled { await display.shown.count == 4 })
            clock.advance(by: .seconds(1))
            #expect(await settled { clock.sleeperCount == 0 }, "the ticker ends with its screen")
            group.cancelAll()
        }
        let shown = await display.shown
        let pays = shown.compactMap { screen -> Int? in
            if case .pay(let p) = screen { return p.secondsLeft }
            return nil
        }
        #expect(pays == [30, 29, 28], "the first draw, then one tick per second")
        #expect(shown.last == .idle, "no tick after the next screen")
    }
}
