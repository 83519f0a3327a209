import Foundation
import KioskCore
import Testing
import VendSession

@testable import DripPayAPI
@testable import DripPayModels
@testable import KioskDaemon

/// Issue 14: an invoice in another currency is never taken for the vend's price.
@Suite("Invoice adapter: currency mismatches")
struct CurrencyMismatchTests {
    func invoice(currency: String, total: String) throws -> Invoice {
        let json = """
            {"reference":"453ac6e9-19d9-4a1a-b904-6bb52c85c306","provider":"strike",
            "provider_account_username":null,"provider_invoice_id":"0604cf8d","machine_id":"VVM-005",
            "trade_no":"T-1","currency":"\(currency)","total":"\(total)","status":"pending","status_label":"Pending",
            "qr_code_image_url":null,"items":[{"reference":"7f6914a8","description":"Soda","amount":"\(total)",
            "created_at":"2025-10-27T20:12:23+00:00"}],"payment":null,"created_at":"2025-10-27T20:12:23+00:00",
            "updated_at":"2025-10-27T20:12:23+00:00"}
            """
        return try Invoice(json: JSONNode.parse(Array(json.utf8)))
    }

    let price = Money(minorUnits: 150, currency: Currency(iso: "USD")!)

    @Test func anUnknownCurrencysTotalIsNotReadInTheVendsCurrency() throws {
        let info = try #require(DripPayInvoicePort.info(try invoice(currency: "XYZ", total: "1.50"), price: price))
        #expect(info.total != price, "1.50 XYZ is not 1.50 USD")
        #expect(info.total.currency.code == "XYZ")
    }

    @Test func aKnownOtherCurrencyIsAMismatchToo() throws {
        let info = try #require(DripPayInvoicePort.info(try invoice(currency: "EUR", total: "1.50"), price: price))
        #expect(info.total != price)
    }

    @Test func theSameCurrencyInLowerCaseMatches() throws {
        let info = try #require(DripPayInvoicePort.info(try invoice(currency: "usd", total: "1.50"), price: price))
        #expect(info.total == price)
    }

    @Test func aSessionCancelsAnInvoiceInAnotherCurrencyAndNeverAcceptsIt() throws {
        let info = try #require(DripPayInvoicePort.info(try invoice(currency: "XYZ", total: "1.50"), price: price))
        let record = SessionRecord(
            tradeNo: TradeNo("T-1"), vendID: VendID("v1")!, product: ProductCode("5")!, itemDescription: "Soda",
            price: price, state: .requested, createdAt: Date(), updatedAt: Date())
        var machine = VendSessionMachine(newSession: record, policy: SessionPolicy())
        _ = machine.handle(.start, now: Date())
        let effects = machine.handle(.invoiceCreated(info, qrPayload: "x"), now: Date())
        #expect(effects.contains(.cancelInvoice(info.reference)))
        #expect(!effects.contains { if case .send(.accept) = $0 { return true } else { return false } })
    }
}
