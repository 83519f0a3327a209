import Foundation
import KioskCore
import Testing

@testable import KioskJournal

@Suite("Exports")
struct JournalExportTests {
    @Test func csvQuotesCommasQuotesAndLineBreaks() {
        var record = makeRecord("T1", state: .refundDue)
        record.itemDescription = "Soda, \"cold\"\r\nlarge"
        record.note = "plain"
        let csv = JournalExport.csv(sessions: [record])
        let expected =
            "trade_no,vend_id,product,item_description,price,currency,state,reference,provider_invoice_id,"
            + "qr_payload,created_at,updated_at,payment_deadline,paid_at,note,codes_shown,resolved_at,resolved_by,"
            + "resolution_note\r\n"
            + "T1,V1,5,\"Soda, \"\"cold\"\"\r\nlarge\",1.50,USD,refund_due,,,,2026-11-25T10:15:30.123Z,"
            + "2026-11-25T10:15:30.123Z,,,plain,,,,\r\n"
        #expect(csv == expected)
    }

    @Test func theCodesShownAreExportedWithTheirSession() throws {
        let record = makeRecord("T1", state: .cancelled)
        let codes = [
            TradeNo("T1"): [
                "payment_hash=aa amount_msat=1000 expires_at=x request=lntb1a", "payment_hash=bb request=lntb1b",
            ]
        ]
        let csv = JournalExport.csv(sessions: [record], codes: codes)
        #expect(
            csv.hasSuffix(
                ",payment_hash=aa amount_msat=1000 expires_at=x request=lntb1a ; payment_hash=bb request=lntb1b,,,\r\n")
        )
        let json = String(decoding: JournalExport.json(sessions: [record], codes: codes), as: UTF8.self)
        #expect(json.contains("\"codes_shown\" : \"payment_hash=aa"))
    }

    @Test func csvAmountsAreExactInEachCurrency() {
        let records = [
            makeRecord("A", price: Money(minorUnits: 5, currency: usd)),
            makeRecord("B", price: Money(minorUnits: 300, currency: jpy)),
            makeRecord("C", price: Money(minorUnits: 1234, currency: kwd)),
        ]
        let prices = JournalExport.csv(sessions: records).split(separator: "\r\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false)[4]
        }
        #expect(prices == ["0.05", "300", "1.234"])
    }

    @Test func jsonHasEveryKeySortedAndAmountsAsStrings() throws {
        var record = makeRecord("T1", state: .dispensed, price: Money(minorUnits: 150, currency: usd))
        record.paidAt = at(2)
        let data = JournalExport.json(sessions: [record])
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let row = try #require(object.first)
        #expect(row["price"] as? String == "1.50")
        #expect(row["currency"] as? String == "USD")
        #expect(row["paid_at"] as? String == "2026-11-25T10:15:32.123Z")
        #expect(row["reference"] is NSNull)
        #expect(Set(row.keys) == Set(JournalExport.columns))
        let text = try #require(String(data: data, encoding: .utf8))
        let keyOrder = JournalExport.columns.sorted().compactMap { text.range(of: "\"\($0)\"")?.lowerBound }
        #expect(keyOrder == keyOrder.sorted())
        #expect(JournalExport.json(sessions: [record]) == data)
    }

    @Test func isoTimesAreUTCWithMilliseconds() {
        #expect(Date(timeIntervalSince1970: 0).journalISO8601 == "1970-01-01T00:00:00.000Z")
        #expect(Date(timeIntervalSince1970: 951_782_400.5).journalISO8601 == "2000-02-29T00:00:00.500Z")
        #expect(Date(timeIntervalSince1970: -1).journalISO8601 == "1969-12-31T23:59:59.000Z")
    }
}
