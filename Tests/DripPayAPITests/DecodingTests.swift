import Foundation
import KioskCore
import Testing

@testable import DripPayAPI
@testable import DripPayModels

/// A transport that answers every request with one canned answer, to test decoding strictly.
struct CannedTransport: DripPayTransport {
    let answer: HTTPAnswer
    func send(_ request: HTTPExchange, timeout: Duration) async throws -> HTTPAnswer { answer }
}

func cannedClient(status: Int = 200, body: String, headers: [(String, String)] = []) throws -> DripPayClient {
    try DripPayClient(
        baseURL: "https://api.example.com/api/v1", token: APIToken("1|secretsecret"), requestTimeout: .seconds(1),
        transport: CannedTransport(answer: HTTPAnswer(status: status, headers: headers, body: Array(body.utf8))))
}

/// The list example from the API document, verbatim.
let documentListExample = """
    {"data":[{"reference":"453ac6e9-19d9-4a1a-b904-6bb52c85c306","provider":"strike",
    "provider_account_username":"accountusername","provider_invoice_id":"0604cf8d-b22f-4d07-b30b-baf7d205e197",
    "machine_id":"VVM-005","trade_no":"TRADE-UEI560RJIX5ZV1TYFHOK","currency":"USD","total":"1.00","status":"paid",
    "status_label":"Paid","qr_code_image_url":"https://domain.com/qr_codes/0604cf8d-b22f-4d07-b30b-baf7d205e197.webp",
    "items":[{"reference":"7f6914a8-4809-4050-86cf-cd966a40faf9","description":"Soda","amount":"1.00000000",
    "created_at":"2025-10-27T20:12:23+00:00"}],"payment":{"amount":"0.00001534","currency":"BTC","status":"PAID",
    "status_label":"Paid","completed_at":"2025-10-31T04:24:43+00:00"},"created_at":"2025-10-27T20:12:23+00:00",
    "updated_at":"2025-10-27T20:13:10+00:00"}],
    "links":{"first":"http://example.com/api/v1/invoices?page=1","last":"http://example.com/api/v1/invoices?page=3",
    "prev":null,"next":"http://example.com/api/v1/invoices?page=2"},
    "meta":{"current_page":1,"from":1,"last_page":3,"per_page":15,"to":15,"total":42}}
    """

@Suite("Decoding the documented answers")
struct DecodingTests {
    @Test func decodesTheDocumentsListExampleExactly() async throws {
        let page = try await cannedClient(body: documentListExample).listInvoices()
        #expect(page.meta == PageMeta(currentPage: 1, from: 1, lastPage: 3, perPage: 15, to: 15, total: 42))
        #expect(page.links.prev == nil && page.links.next == "http://example.com/api/v1/invoices?page=2")
        let invoice = try #require(page.data.first)
        #expect(invoice.reference == InvoiceReference("453ac6e9-19d9-4a1a-b904-6bb52c85c306"))
        #expect(invoice.tradeNo == TradeNo("TRADE-UEI560RJIX5ZV1TYFHOK"))
        #expect(invoice.status == .paid)
        #expect(invoice.total.decimal == "1.00")
        #expect(invoice.total.money == Money(minorUnits: 100, currency: Currency(iso: "USD")!))
        #expect(invoice.items.first?.amount.money?.minorUnits == 100)
        #expect(invoice.items.first?.amount.decimal == "1.00000000")
        #expect(invoice.payment?.amount == "0.00001534")
        #expect(invoice.payment?.currency == "BTC")
        #expect(invoice.payment?.completedAt?.date == Date(timeIntervalSince1970: 1_761_884_683))
        #expect(invoice.createdAt.date == Date(timeIntervalSince1970: 1_761_595_943))
    }

    @Test func anInvoiceMissingAFieldIsSkippedNamingTheFieldNotThePage() async throws {
        let body = documentListExample.replacingOccurrences(
            of: "\"trade_no\":\"TRADE-UEI560RJIX5ZV1TYFHOK\",", with: "")
        let page = try await cannedClient(body: body).listInvoices()
        #expect(page.data.isEmpty)
        #expect(
            page.skipped == [
                SkippedInvoice(
                    index: 0, reference: "453ac6e9-19d9-4a1a-b904-6bb52c85c306", machineID: "VVM-005", tradeNo: nil,
                    reason: "field 'data[0].trade_no' is missing")
            ])
        #expect(page.meta.total == 42)
    }

    @Test func aPageWithoutItsMetaIsStillAMalformedResponseNamingFieldAndEndpoint() async throws {
        let body = documentListExample.replacingOccurrences(of: "\"meta\":", with: "\"mota\":")
        await #expect(
            throws: DripPayError.malformedResponse(
                Endpoint(method: "GET", path: "/invoices"), expected: "field 'meta' is missing")
        ) {
            _ = try await cannedClient(body: body).listInvoices()
        }
    }

    @Test func anAmountSentAsANumberIsRefusedRatherThanRoundedThroughAFloat() async throws {
        let body = documentListExample.replacingOccurrences(of: "\"total\":\"1.00\"", with: "\"total\":1.00")
        let page = try await cannedClient(body: body).listInvoices()
        #expect(page.data.isEmpty)
        #expect(page.skipped.first?.reason.contains("data[0].total") == true)
    }

    @Test func aCreateAnswerWithAReferenceButNoProviderInvoiceIsUnusableNotUnknown() async throws {
        let invoice = LenientPageTests.good(1).replacingOccurrences(
            of: #""provider_invoice_id":"p-1""#, with: #""provider_invoice_id":null"#)
        let body = #"{"data":"# + invoice + "}"
        let client = try cannedClient(status: 201, body: body)
        let error = await #expect(throws: DripPayError.self) {
            _ = try await client.createInvoice(
                CreateInvoiceRequest(
                    machineID: "VVM-005", tradeNo: TradeNo("T-1"), currency: Currency(iso: "USD")!, items: []))
        }
        guard case .unusableInvoice(_, let reference, _)? = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(reference == InvoiceReference("ref-1"))
        #expect(error?.outcomeUnknown == false)
    }

    @Test func anUnknownStatusIsKeptVerbatimAndIsNotPaid() async throws {
        let status = try await cannedClient(body: #"{"status":"expired"}"#).status(InvoiceReference("r"))
        #expect(status == .notPayable("expired"))
        #expect(status != .paid)
    }

    @Test func theCreateBodyCarriesAmountsExactlyAsDecimalLiterals() throws {
        let usd = try #require(Currency(iso: "USD"))
        let request = CreateInvoiceRequest(
            machineID: "VVM-\"5\"", tradeNo: TradeNo("T-1"), currency: usd,
            items: [.init(description: "Soda", amount: Money(minorUnits: 110, currency: usd))])
        #expect(
            request.jsonBody
                == #"{"machine_id":"VVM-\"5\"","trade_no":"T-1","currency":"USD","items":[{"description":"Soda","amount":1.10}]}"#
        )
        let parsed = try JSONSerialization.jsonObject(with: Data(request.jsonBody.utf8)) as? [String: Any]
        #expect(parsed?["trade_no"] as? String == "T-1")
    }

    @Test func timestampsParseWithOffsetsAndFractions() {
        #expect(Timestamp(iso8601: "2025-10-27T22:12:23+02:00")?.date == Date(timeIntervalSince1970: 1_761_595_943))
        #expect(Timestamp(iso8601: "2025-10-27T20:12:23.5Z")?.date == Date(timeIntervalSince1970: 1_761_595_943.5))
        #expect(Timestamp(iso8601: "2025-10-27 20:12") == nil)
        #expect(Timestamp(iso8601: "2025-13-27T20:12:23+00:00") == nil)
    }

    @Test func plainHTTPIsRefusedExceptToLoopback() {
        #expect(throws: DripPayError.self) { _ = try DripPayClient.validate(baseURL: "http://drippay-dev.com/api/v1") }
        #expect(throws: DripPayError.self) { _ = try DripPayClient.validate(baseURL: "ftp://127.0.0.1/") }
        #expect(throws: DripPayError.self) { _ = try DripPayClient.validate(baseURL: "http://127.0.0.1.evil.com/") }
        #expect(
            (try? DripPayClient.validate(baseURL: "http://127.0.0.2:8080/api/v1/")) == "http://127.0.0.2:8080/api/v1")
        #expect((try? DripPayClient.validate(baseURL: "http://localhost/api/v1")) != nil)
        #expect((try? DripPayClient.validate(baseURL: "http://[::1]:9/api/v1")) != nil)
        #expect((try? DripPayClient.validate(baseURL: "https://drippay-dev.com/api/v1")) != nil)
    }

    @Test func errorDescriptionsNameTheEndpointAndNeverTheToken() async throws {
        let client = try cannedClient(status: 403, body: #"{"message":"Invalid ability provided."}"#)
        let error = await #expect(throws: DripPayError.self) { try await client.cancel(InvoiceReference("abc")) }
        let text = "\(error!)"
        #expect(text.contains("DELETE /invoices/abc"))
        #expect(text.contains("cancel-invoice"))
        #expect(!text.contains("secretsecret"))
    }

    @Test func abilityLabelsMapToNames() {
        #expect(Ability(labelOrName: "View Invoice") == .viewInvoice)
        #expect(Ability(labelOrName: "cancel-invoice") == .cancelInvoice)
        #expect(Ability(labelOrName: "Delete Everything") == nil)
    }
}
