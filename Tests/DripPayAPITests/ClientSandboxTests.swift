import DripPaySandbox
import Foundation
import KioskCore
import Testing

@testable import DripPayAPI

@Suite("Client against the sandbox over loopback")
struct ClientSandboxTests {
    // MARK: Endpoints

    @Test func pingAnswersPongWithTheTokensAbilityLabels() async throws {
        try await Fixture.with(token: viewOnlyToken) { f in
            let pong = try await f.client.ping()
            #expect(pong.message == "pong")
            #expect(pong.abilityLabels == ["View Invoice"])
            #expect(pong.abilities == [.viewInvoice])
        }
    }

    @Test func pingReportNamesTheMissingAbilitiesAndFails() async throws {
        try await Fixture.with(token: viewOnlyToken) { f in
            let report = await pingReport(client: f.client)
            #expect(!report.ok)
            #expect(report.text.contains("list-invoice, create-invoice, cancel-invoice"))
            #expect(!report.text.contains(viewOnlyToken))
        }
    }

    @Test func pingReportIsOkForAFullToken() async throws {
        try await Fixture.with { f in
            let report = await pingReport(client: f.client)
            #expect(report.ok, "\(report.text)")
        }
    }

    @Test func createReturnsThePendingInvoiceWithExactAmounts() async throws {
        try await Fixture.with { f in
            let invoice = try await f.client.createInvoice(sodaRequest("T-create", amounts: [10, 20]))
            #expect(invoice.status == .pending)
            #expect(invoice.total.decimal == "0.30")
            #expect(invoice.total.money == Money(minorUnits: 30, currency: usd))
            #expect(invoice.items.map(\.amount.decimal) == ["0.10000000", "0.20000000"])
            #expect(invoice.tradeNo == TradeNo("T-create"))
            #expect(invoice.machineID == "VVM-005")
            #expect(invoice.provider == "strike")
            #expect(invoice.payment == nil)
            #expect(abs(invoice.createdAt.date.timeIntervalSinceNow) < 60)
            #expect(UUID(uuidString: invoice.reference.rawValue) != nil)
        }
    }

    @Test func statusTurnsPaidWhenTheSandboxIsPaidAndDetailsCarryThePayment() async throws {
        try await Fixture.with { f in
            let invoice = try await f.client.createInvoice(sodaRequest("T-pay"))
            #expect(try await f.client.status(invoice.reference) == .pending)
            #expect(await f.sandbox.pay(invoice.reference))
            #expect(try await f.client.status(invoice.reference) == .paid)
            let details = try await f.client.invoice(invoice.reference)
            let payment = try #require(details.payment)
            #expect(payment.currency == "BTC")
            #expect(payment.amount == "0.00002301")  // 1.50 at the sandbox's 1534 sats per unit
            #expect(payment.completedAt != nil)
        }
    }

    @Test func thePayPageMarksAPendingInvoicePaid() async throws {
        try await Fixture.with { f in
            let invoice = try await f.client.createInvoice(sodaRequest("T-page"))
            let response = try await httpRequest(await f.sandbox.payURL(for: invoice.reference))
            #expect(response.status == 200)
            #expect(try await f.client.status(invoice.reference) == .paid)
        }
    }

    @Test func autoPayPaysNewInvoicesAfterTheDelay() async throws {
        try await Fixture.with { f in
            await f.sandbox.setAutoPay(after: .zero)
            let invoice = try await f.client.createInvoice(sodaRequest("T-auto"))
            #expect(try await f.client.status(invoice.reference) == .paid)
        }
    }

    @Test func listIsNewestFirstAndPaginates() async throws {
        try await Fixture.with { f in
            for i in 1...3 { _ = try await f.client.createInvoice(sodaRequest("T-list-\(i)")) }
            let first = try await f.client.listInvoices(page: 1, perPage: 2)
            #expect(first.data.map(\.tradeNo.rawValue) == ["T-list-3", "T-list-2"])
            #expect(first.meta.total == 3 && first.meta.lastPage == 2 && first.meta.perPage == 2)
            #expect(first.links.next != nil && first.links.prev == nil)
            let second = try await f.client.listInvoices(page: 2, perPage: 2)
            #expect(second.data.map(\.tradeNo.rawValue) == ["T-list-1"])
            #expect(second.links.next == nil)
        }
    }

    @Test func cancelSoftDeletesAPendingInvoice() async throws {
        try await Fixture.with { f in
            let invoice = try await f.client.createInvoice(sodaRequest("T-cancel"))
            try await f.client.cancel(invoice.reference)
            await #expect(
                throws: DripPayError.notFound(Endpoint(method: "GET", path: "/invoices/\(invoice.reference)/status"))
            ) {
                _ = try await f.client.status(invoice.reference)
            }
            #expect(try await f.client.listInvoices().data.isEmpty)
            #expect(await f.sandbox.invoices().map(\.status) == [.cancelled])
        }
    }

    @Test func aCancelledInvoiceShowsCancelledWhenTheSandboxKeepsThemVisible() async throws {
        try await Fixture.with(cancelledVisible: true) { f in
            let invoice = try await f.client.createInvoice(sodaRequest("T-cancel-visible"))
            try await f.client.cancel(invoice.reference)
            #expect(try await f.client.status(invoice.reference) == .cancelled)
        }
    }

    // MARK: Error classes

    @Test func cancellingAPaidInvoiceIsRefusedWith422() async throws {
        try await Fixture.with { f in
            let invoice = try await f.client.createInvoice(sodaRequest("T-paid-cancel"))
            await f.sandbox.pay(invoice.reference)
            let error = await #expect(throws: DripPayError.self) { try await f.client.cancel(invoice.reference) }
            guard case .validation(_, let message, _)? = error else {
                Issue.record("got \(String(describing: error))"); return
            }
            #expect(message == "Only pending invoices can be cancelled.")
        }
    }

    @Test func anUnknownTokenIsUnauthenticated() async throws {
        try await Fixture.with(token: "99|NoSuchTokenSecret") { f in
            let error = await #expect(throws: DripPayError.unauthenticated(Endpoint(method: "GET", path: "/ping"))) {
                _ = try await f.client.ping()
            }
            #expect(!"\(error!)".contains("NoSuchTokenSecret"))
        }
    }

    @Test func aMissingAbilityIsForbiddenNamingTheAbility() async throws {
        try await Fixture.with(token: viewOnlyToken) { f in
            await #expect(
                throws: DripPayError.forbidden(Endpoint(method: "POST", path: "/invoices"), ability: .createInvoice)
            ) {
                _ = try await f.client.createInvoice(sodaRequest("T-forbidden"))
            }
            #expect(await f.sandbox.requests().last?.status == 403)
        }
    }

    @Test func anUnknownReferenceIsNotFound() async throws {
        try await Fixture.with { f in
            let ref = InvoiceReference("9d8e7f6a-5b4c-3d2e-1f0a-9b8c7d6e5f4a")
            await #expect(throws: DripPayError.notFound(Endpoint(method: "GET", path: "/invoices/\(ref)"))) {
                _ = try await f.client.invoice(ref)
            }
        }
    }

    @Test func anInvalidCreateIsAValidationErrorWithFieldMessages() async throws {
        try await Fixture.with { f in
            let bad = CreateInvoiceRequest(
                machineID: "", tradeNo: TradeNo("T-bad"), currency: Currency(code: "US", minorDigits: 2), items: [])
            let error = await #expect(throws: DripPayError.self) { _ = try await f.client.createInvoice(bad) }
            guard case .validation(let endpoint, let message, let fields)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(endpoint == Endpoint(method: "POST", path: "/invoices"))
            #expect(message == "The machine id field is required. (and 2 more errors)")
            #expect(fields["machine_id"] == ["The machine id field is required."])
            #expect(fields["currency"] == ["The currency field must be 3 characters."])
            #expect(fields["items"] == ["The items field must have at least 1 items."])
            #expect(await f.sandbox.invoices().isEmpty)
        }
    }

    @Test func anAmountBelowTheMinimumIsRefusedPerItem() async throws {
        try await Fixture.with { f in
            let error = await #expect(throws: DripPayError.self) {
                _ = try await f.client.createInvoice(sodaRequest("T-zero", amounts: [100, 0]))
            }
            guard case .validation(_, _, let fields)? = error else {
                Issue.record("got \(String(describing: error))"); return
            }
            #expect(fields == ["items.1.amount": ["The items.1.amount field must be at least 0.01."]])
        }
    }

    @Test func theServersThrottleAnswers429WithRetryAfterAndPausesTheBudget() async throws {
        let clock = JumpClock()
        try await Fixture.with(sandboxRequestsPerMinute: 2, clock: clock) { f in
            _ = try await f.client.ping()
            _ = try await f.client.ping()
            let error = await #expect(throws: DripPayError.self) { _ = try await f.client.ping() }
            guard case .rateLimited(let endpoint, let retryAfter)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(endpoint == Endpoint(method: "GET", path: "/ping"))
            #expect((1...60).contains(retryAfter))
            #expect(error?.isTransient == true)
            // The next request on that budget waits out Retry-After first. Before the 429, the
            // nearly spent shared count paced the pings (FleetPacer): short waits, never a minute.
            _ = try? await f.client.ping()
            #expect(clock.sleeps.last == .seconds(retryAfter))
            #expect(clock.sleeps.dropLast().allSatisfy { $0 < .seconds(1) }, "\(clock.sleeps)")
            #expect(clock.sleeps.filter { $0 >= .seconds(1) }.count == 1)
        }
    }

    @Test func aForced429StormIsReportedWithItsRetryAfter() async throws {
        try await Fixture.with { f in
            await f.sandbox.forceRateLimit(next: 1, retryAfter: 7)
            await #expect(
                throws: DripPayError.rateLimited(Endpoint(method: "GET", path: "/invoices/x/status"), retryAfter: 7)
            ) {
                _ = try await f.client.status(InvoiceReference("x"))
            }
        }
    }

    @Test func aRetryAfterAboveTheCapPausesOnlyForTheCap() async throws {
        let clock = JumpClock()
        try await Fixture.with(clock: clock) { f in
            await f.sandbox.forceRateLimit(next: 1, retryAfter: 86_400)
            await #expect(throws: DripPayError.rateLimited(Endpoint(method: "GET", path: "/ping"), retryAfter: 60)) {
                _ = try await f.client.ping()
            }
            _ = try await f.client.ping()
            #expect(clock.sleeps == [.seconds(DripPayClient.retryAfterCap)])
        }
    }

    @Test func aRedirectIsNeverFollowedAndNamesTheBaseURLSetting() async throws {
        try await Fixture.with { f in
            // The production client with its own transport (libcurl would follow with FOLLOWLOCATION 1).
            let client = try DripPayClient(
                baseURL: await f.sandbox.baseURL, token: APIToken(fullToken), requestTimeout: .seconds(2))
            await f.sandbox.redirect(next: 1)
            let error = await #expect(throws: DripPayError.self) {
                _ = try await client.createInvoice(sodaRequest("T-moved"))
            }
            guard case .redirected(let endpoint, let status, let location)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(endpoint == Endpoint(method: "POST", path: "/invoices"))
            #expect(status == 301)
            #expect(location?.hasSuffix("/api/v2/invoices") == true)
            #expect(error?.description.contains("[api] base_url") == true)
            // One request, the POST; nothing followed it to /api/v2.
            let seen = await f.sandbox.requests()
            #expect(seen.count == 1)
            #expect(seen.first?.method == "POST")
            #expect(await f.sandbox.invoices().isEmpty)
        }
    }

    @Test func a5xxIsAServerErrorAndTransient() async throws {
        try await Fixture.with { f throws in
            await f.sandbox.failNextRequests(1, status: 503)
            let error = await #expect(throws: DripPayError.server(Endpoint(method: "GET", path: "/ping"), status: 503))
            {
                _ = try await f.client.ping()
            }
            #expect(error?.isTransient == true)
            #expect(try await f.client.ping().message == "pong")
        }
    }

    @Test func aSlowAnswerTimesOut() async throws {
        try await Fixture.with(timeout: .milliseconds(200)) { f in
            await f.sandbox.setLatency(.milliseconds(1500))
            await #expect(
                throws: DripPayError.timeout(Endpoint(method: "GET", path: "/ping"), after: .milliseconds(200))
            ) {
                _ = try await f.client.ping()
            }
        }
    }

    @Test func aSandboxThatIsDownRefusesTheConnectionAndComesBack() async throws {
        try await Fixture.with { f in
            _ = try await f.client.ping()
            let port = try #require(await f.sandbox.port)
            await f.sandbox.goDown()
            let error = await #expect(throws: DripPayError.self) { _ = try await f.client.ping() }
            guard case .notConnected(let endpoint, .refused(let address))? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(endpoint == Endpoint(method: "GET", path: "/ping"))
            #expect(address == "127.0.0.1:\(port)")
            #expect(error?.outcomeUnknown == false, "a refused connect sent nothing")
            try await f.sandbox.comeUp()
            #expect(try await f.client.ping().message == "pong")
        }
    }

    @Test func aDroppedConnectionIsAConnectionFailureWithUnknownOutcome() async throws {
        try await Fixture.with { f in
            await f.sandbox.injectCreateFault(.dropBeforeCommit)
            let error = await #expect(throws: DripPayError.self) {
                _ = try await f.client.createInvoice(sodaRequest("T-drop"))
            }
            guard case .connectionFailed(_, .reset)? = error else {
                Issue.record("got \(String(describing: error))"); return
            }
            #expect(error?.outcomeUnknown == true)
        }
    }

    @Test func aCreateOnAKeptAliveConnectionThatClosesUnansweredIsNeverSentAgain() async throws {
        // libcurl sends a request again on a fresh connection when a reused one closes before
        // any answer byte; a create's body went out, so the transport refuses that (the
        // invoice may exist: it is looked up by trade_no, never created twice).
        try await Fixture.with { f in
            _ = try await f.client.ping()  // opens the connection the create then reuses
            await f.sandbox.injectCreateFault(.dropAfterCommit)
            let error = await #expect(throws: DripPayError.self) {
                _ = try await f.client.createInvoice(sodaRequest("T-kept-alive"))
            }
            guard case .connectionFailed(_, .reset)? = error else {
                Issue.record("got \(String(describing: error))"); return
            }
            #expect(error?.outcomeUnknown == true)
            let posts = await f.sandbox.requests().filter { $0.method == "POST" }
            #expect(posts.map(\.status) == [nil], "one POST, not repeated")
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-kept-alive") == 1)
        }
    }

    @Test func aGarbageBodyIsAMalformedResponse() async throws {
        try await Fixture.with { f in
            await f.sandbox.answerGarbage(next: 1)
            let error = await #expect(throws: DripPayError.self) {
                _ = try await f.client.status(InvoiceReference("r1"))
            }
            guard case .malformedResponse(let endpoint, let expected)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(endpoint == Endpoint(method: "GET", path: "/invoices/r1/status"))
            #expect(expected.contains("JSON"))
        }
    }

    // MARK: Reconciliation

    @Test func aCreateWhoseAnswerWasDroppedEndsWithExactlyOneLiveInvoice() async throws {
        try await Fixture.with { f in
            await f.sandbox.injectCreateFault(.dropAfterCommit)
            let invoice = try await f.client.createReconciling(sodaRequest("T-lost"))
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-lost") == 1)
            #expect(await f.sandbox.invoices().map(\.reference) == [invoice.reference.rawValue])
            let posts = await f.sandbox.requests().filter { $0.method == "POST" }
            #expect(posts.map(\.status) == [nil])
        }
    }

    @Test func aCreateThatDidNotCommitIsSentAgainExactlyOnce() async throws {
        try await Fixture.with { f in
            await f.sandbox.injectCreateFault(.dropBeforeCommit)
            let invoice = try await f.client.createReconciling(sodaRequest("T-uncommitted"))
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-uncommitted") == 1)
            #expect(await f.sandbox.invoices().map(\.reference) == [invoice.reference.rawValue])
            let posts = await f.sandbox.requests().filter { $0.method == "POST" }
            #expect(posts.map(\.status) == [nil, 201])
        }
    }

    @Test func aCreateAnswered5xxAfterCommittingIsFoundNotRepeated() async throws {
        try await Fixture.with { f in
            await f.sandbox.injectCreateFault(.serverErrorAfterCommit(status: 500))
            _ = try await f.client.createReconciling(sodaRequest("T-5xx"))
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-5xx") == 1)
            #expect(await f.sandbox.invoices().count == 1)
        }
    }

    @Test func aTimedOutCreateWhoseLookupAlsoFailsReportsAnUnknownOutcomeAndIsFoundLater() async throws {
        try await Fixture.with(timeout: .milliseconds(200)) { f in
            let start = Date()
            await f.sandbox.setLatency(.milliseconds(600))
            let error = await #expect(throws: DripPayError.self) {
                _ = try await f.client.createReconciling(sodaRequest("T-slow"))
            }
            guard case .timeout(let endpoint, _)? = error else {
                Issue.record("got \(String(describing: error))"); return
            }
            #expect(endpoint == Endpoint(method: "POST", path: "/invoices"))
            #expect(error?.outcomeUnknown == true)
            await f.sandbox.setLatency(nil)
            let found = try await f.client.reconcile(tradeNo: TradeNo("T-slow"), machineID: "VVM-005", since: start)
            #expect(found != nil)
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-slow") == 1)
        }
    }

    @Test func reconciliationKeepsTheOldestLiveInvoiceAndCancelsDuplicates() async throws {
        try await Fixture.with { f in
            let oldest = try await f.client.createInvoice(sodaRequest("T-dup"))
            _ = try await f.client.createInvoice(sodaRequest("T-other"))
            _ = try await f.client.createInvoice(sodaRequest("T-dup"))
            await f.sandbox.injectCreateFault(.dropAfterCommit)
            let kept = try await f.client.createReconciling(sodaRequest("T-dup"))
            #expect(kept.reference == oldest.reference)
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-dup") == 1)
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-other") == 1)
        }
    }

    @Test func reconciliationNeverTouchesAnotherMachinesInvoiceWithTheSameTradeNo() async throws {
        try await Fixture.with { f in
            let other = CreateInvoiceRequest(
                machineID: "VVM-OTHER", tradeNo: TradeNo("T-shared"), currency: usd,
                items: [.init(description: "Soda", amount: Money(minorUnits: 150, currency: usd))])
            let theirs = try await f.client.createInvoice(other)
            await f.sandbox.injectCreateFault(.dropAfterCommit)
            let ours = try await f.client.createReconciling(sodaRequest("T-shared"))
            #expect(ours.reference != theirs.reference)
            #expect(ours.machineID == "VVM-005")
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-shared") == 2)
        }
    }

    @Test func reconciliationPrefersAPaidInvoice() async throws {
        try await Fixture.with { f in
            _ = try await f.client.createInvoice(sodaRequest("T-paid-dup"))
            let paid = try await f.client.createInvoice(sodaRequest("T-paid-dup"))
            await f.sandbox.pay(paid.reference)
            let found = try await f.client.reconcile(
                tradeNo: TradeNo("T-paid-dup"), machineID: "VVM-005", since: Date())
            #expect(found?.reference == paid.reference)
            #expect(await f.sandbox.liveInvoiceCount(tradeNo: "T-paid-dup") == 1)
        }
    }

    @Test func findInvoiceWalksPagesNewestFirstWithinItsRequestBudget() async throws {
        try await Fixture.with { f in
            let start = Date()
            let target = try await f.client.createInvoice(sodaRequest("T-deep"))
            for i in 0..<120 { _ = try await f.client.createInvoice(sodaRequest("T-fill-\(i)")) }
            await #expect(throws: LookupIncomplete.self) {
                _ = try await f.client.findInvoice(
                    tradeNo: TradeNo("T-deep"), machineID: "VVM-005", since: start, maxRequests: 1)
            }
            let found = try await f.client.findInvoice(
                tradeNo: TradeNo("T-deep"), machineID: "VVM-005", since: start, maxRequests: 2)
            #expect(found?.reference == target.reference)
        }
    }
}
