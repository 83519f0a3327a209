import DripPaySandbox
import Foundation
import KioskCore
import KioskTestSupport
import Testing

@testable import DripPayAPI

/// Issue 14: trade_no lookups filter by machine, walk the list in whatever order it comes, stop
/// at invoices older than the session, and stay within their request budget.
@Suite("Client: trade_no lookups against the sandbox")
struct LookupTests {
    func request(_ tradeNo: String, machine: String, cents: Int64 = 150) -> CreateInvoiceRequest {
        CreateInvoiceRequest(
            machineID: machine, tradeNo: TradeNo(tradeNo), currency: usd,
            items: [.init(description: "Soda", amount: Money(minorUnits: cents, currency: usd))])
    }

    func listRequests(_ sandbox: APISandbox) async -> Int {
        await sandbox.requests().filter { $0.method == "GET" && $0.path == "/api/v1/invoices" }.count
    }

    @Test func aListingInAscendingOrderIsWalkedFromItsNewestPage() async throws {
        try await Fixture.with { f in
            await f.sandbox.setListOldestFirst(true)
            for i in 0..<320 { _ = try await f.client.createInvoice(request("T-old-\(i)", machine: "VVM-005")) }
            await f.sandbox.backdateInvoices(by: 3600)
            let start = Date()
            let target = try await f.client.createInvoice(sodaRequest("T-new"))
            let before = await listRequests(f.sandbox)
            let found = try await f.client.findInvoice(tradeNo: TradeNo("T-new"), machineID: "VVM-005", since: start)
            #expect(found?.reference == target.reference, "the newest invoice is on the last of 4 pages")
            #expect(
                await listRequests(f.sandbox) - before == 2, "page 1, then the last page, which reaches older invoices")
        }
    }

    @Test func aListingNewestFirstStopsAtThePageThatReachesOlderInvoices() async throws {
        try await Fixture.with { f in
            for i in 0..<250 { _ = try await f.client.createInvoice(request("T-old-\(i)", machine: "VVM-005")) }
            await f.sandbox.backdateInvoices(by: 3600)
            let start = Date()
            _ = try await f.client.createInvoice(sodaRequest("T-new"))
            let before = await listRequests(f.sandbox)
            #expect(
                try await f.client.findInvoice(tradeNo: TradeNo("T-absent"), machineID: "VVM-005", since: start) == nil)
            #expect(await listRequests(f.sandbox) - before == 1)
        }
    }

    @Test func aTradeNoBehind1200NewerInvoicesIsFoundByResumingTheWalk() async throws {
        try await Fixture.with { f in
            await f.sandbox.backdateInvoices(by: 3600)
            let start = Date()
            let target = try await f.client.createInvoice(sodaRequest("T-deep"))
            await f.sandbox.addInvoices(count: 1_200, machineID: "VVM-OTHER")
            let error = await #expect(throws: LookupIncomplete.self) {
                _ = try await f.client.findInvoice(tradeNo: TradeNo("T-deep"), machineID: "VVM-005", since: start)
            }
            let walk = try #require(error?.lookup)
            #expect(walk.requests == 10)
            #expect(!walk.isComplete)
            let found = try await f.client.findInvoice(
                tradeNo: TradeNo("T-deep"), machineID: "VVM-005", since: start, resuming: walk)
            #expect(found?.reference == target.reference)
            #expect(await listRequests(f.sandbox) == 13, "pages 1-10, then 11-13: never page 1 again")
        }
    }

    @Test func invoicesDeletedBetweenPageReadsNeverHideTheTradeNo() async throws {
        try await Fixture.with { f in
            let start = Date().addingTimeInterval(-1)
            let target = try await f.client.createInvoice(sodaRequest("T-shift"))
            await f.sandbox.backdateInvoices(by: 30)
            await f.sandbox.addInvoices(count: 290, machineID: "VVM-OTHER")
            // Each page read cancels 40 of the newest: offsets shift by 40 between two reads.
            await f.sandbox.deleteBetweenPageReads(40, sparing: "VVM-005")
            let found = try await f.client.findInvoice(
                tradeNo: TradeNo("T-shift"), machineID: "VVM-005", since: start, maxRequests: 20)
            #expect(found?.reference == target.reference)
        }
    }

    @Test func listReadsLeaveAQuarterOfTheBudgetToCreates() {
        var budget = RateBudget(limit: 8, window: .seconds(60))
        var lists = 0
        while budget.tryAcquire(now: .zero, reserve: RequestPriority.recovery.reserve(of: 8)) { lists += 1 }
        #expect(lists == 6)
        let creates = (0..<3).map { _ in budget.tryAcquire(now: .zero) }
        #expect(creates == [true, true, false], "creates still go until the whole budget is spent")
    }

    @Test func twoMachinesOnOneAccountWithCollidingTradeNosNeverSeeOrCancelEachOthersInvoices() async throws {
        try await Fixture.with { f in
            let start = Date()
            let theirs = try await f.client.createInvoice(request("VVM-T-20261201-0001", machine: "VVM-OTHER"))
            let theirDuplicate = try await f.client.createInvoice(request("VVM-T-20261201-0001", machine: "VVM-OTHER"))
            #expect(
                try await f.client.reconcile(
                    tradeNo: TradeNo("VVM-T-20261201-0001"), machineID: "VVM-005", since: start)
                    == nil,
                "the other machine's invoice is not ours")
            let ours = try await f.client.createInvoice(request("VVM-T-20261201-0001", machine: "VVM-005"))
            let kept = try await f.client.reconcile(
                tradeNo: TradeNo("VVM-T-20261201-0001"), machineID: "VVM-005", since: start)
            #expect(kept?.reference == ours.reference)
            let states = await f.sandbox.invoices().filter {
                [theirs.reference.rawValue, theirDuplicate.reference.rawValue].contains($0.reference)
            }
            #expect(states.count == 2)
            #expect(states.allSatisfy { $0.isLive }, "the other machine's invoices (even its duplicate) stay pending")
        }
    }
}

@Suite("Client: a request deadline bounds rate-limit waits")
struct RequestDeadlineTests {
    @Test func aCreateThatWouldWaitForBudgetPastItsDeadlineFailsAtOnceWithoutSending() async throws {
        let sandbox = APISandbox(tokens: [fullToken: Set(Ability.allCases)], requestsPerMinute: 10_000)
        try await sandbox.start()
        try await withTearDown(sandbox, tearDown: { await $0.stop() }) { sandbox in
            let client = try DripPayClient(
                baseURL: await sandbox.baseURL, token: APIToken(fullToken), requestTimeout: .seconds(2),
                requestsPerMinute: 1, statusRequestsPerMinute: 600)
            _ = try await client.createInvoice(sodaRequest("T-first"))
            let started = ContinuousClock.now
            let error = await #expect(throws: DripPayError.self) {
                try await DripPayClient.$requestDeadline.withValue(Date().addingTimeInterval(5)) {
                    _ = try await client.createReconciling(sodaRequest("T-second"))
                }
            }
            guard case .budgetRefused(let endpoint, let retryAfter)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(
                error?.description.contains("429") == true && error?.description.contains("did not answer 429") == true)
            #expect(endpoint == Endpoint(method: "POST", path: "/invoices"))
            #expect(retryAfter > 5, "the budget frees up after the deadline")
            #expect(ContinuousClock.now - started < .seconds(2), "denied at once, not after waiting")
            #expect(await sandbox.requests().filter { $0.method == "POST" }.count == 1, "nothing was sent")
        }
    }
}
