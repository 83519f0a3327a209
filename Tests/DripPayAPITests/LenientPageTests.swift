import Foundation
import KioskCore
import KioskTestSupport
import Testing

@testable import DripPayAPI
@testable import DripPayModels

/// Issue 22, "lenient reading": a list page is decoded invoice by invoice.
@Suite("Decoding list pages invoice by invoice")
struct LenientPageTests {
    static func good(_ n: Int) -> String {
        """
        {"reference":"ref-\(n)","provider":"strike","provider_account_username":null,"provider_invoice_id":"p-\(n)",
        "machine_id":"VVM-005","trade_no":"T-\(n)","currency":"USD","total":"1.50","status":"pending",
        "status_label":"Pending","qr_code_image_url":null,"items":[{"reference":"i-\(n)","description":"Soda",
        "amount":"1.50","created_at":"2026-01-01T00:00:00+00:00"}],"payment":null,
        "created_at":"2026-01-01T00:00:0\(n % 10)+00:00","updated_at":"2026-01-01T00:00:00+00:00"}
        """
    }

    /// Ways another machine's invoice can be malformed; each breaks one invoice, never JSON itself.
    static let breakages: [@Sendable (String) -> String] = [
        { $0.replacingOccurrences(of: #""provider_invoice_id":"p-"#, with: #""provider_invoice_id":null,"x":""#) },
        { $0.replacingOccurrences(of: #""total":"1.50""#, with: #""total":1.505"#) },
        { $0.replacingOccurrences(of: #""created_at":"2026-01-01T00:00:0"#, with: #""created_at":"yesterday"#) },
        { $0.replacingOccurrences(of: #""items":["#, with: #""items":7,"unused":["#) },
        { $0.replacingOccurrences(of: #""status":"pending""#, with: #""status":null"#) },
        { _ in "42" },
        { _ in "null" },
        { _ in #"{"reference":"only"}"# },
    ]

    static func page(_ invoices: [String]) -> [UInt8] {
        Array(
            """
            {"data":[\(invoices.joined(separator: ","))],"links":{"first":null,"last":null,"prev":null,"next":null},
            "meta":{"current_page":1,"from":1,"last_page":1,"per_page":100,"to":\(invoices.count),"total":\(invoices.count)}}
            """.utf8)
    }

    @Test func goodInvoicesAreAlwaysFoundAmongRandomGarbage() throws {
        var rng = SplitMix64(seed: 0x22_1E41)
        for round in 0..<300 {
            var entries: [(good: Int?, json: String)] = []
            let goodCount = Int.random(in: 0..<8, using: &rng)
            for n in 0..<goodCount { entries.append((n, Self.good(n))) }
            for n in 0..<Int.random(in: 0..<8, using: &rng) {
                let broken = Self.breakages.randomElement(using: &rng)!(Self.good(100 + n))
                entries.append((nil, broken))
            }
            entries.shuffle(using: &rng)
            let page = try InvoicePage(json: JSONNode.parse(Self.page(entries.map(\.json))))
            let found = Set(page.data.map(\.tradeNo.rawValue))
            #expect(found == Set((0..<goodCount).map { "T-\($0)" }), "round \(round)")
            #expect(page.data.count + page.skipped.count == entries.count, "round \(round)")
            // Each skipped one is at the place of a broken entry.
            for skipped in page.skipped { #expect(entries[skipped.index].good == nil, "round \(round)") }
            // The good ones keep their money exact.
            #expect(page.data.allSatisfy { $0.total.money == Money(minorUnits: 150, currency: Currency(iso: "USD")!) })
        }
    }

    @Test func aLookupFindsItsInvoiceBehindAMalformedOneOfAnotherMachine() async throws {
        let other = Self.breakages[0](Self.good(9)).replacingOccurrences(of: "VVM-005", with: "VVM-999")
        let body = String(decoding: Self.page([other, Self.good(1)]), as: UTF8.self)
        let client = try cannedClient(body: body)
        let found = try await client.findInvoice(
            tradeNo: TradeNo("T-1"), machineID: "VVM-005", since: Date(timeIntervalSince1970: 1_767_225_600))
        #expect(found?.reference == InvoiceReference("ref-1"))
        #expect(client.skippedInvoices.count == 1)
        // Read again: logged and counted once.
        _ = try await client.listInvoices()
        #expect(client.skippedInvoices.count == 1)
    }

    @Test func ourOwnMalformedInvoiceMakesTheLookupInconclusiveNotEmpty() async throws {
        let ours = Self.breakages[2](Self.good(1))
        let client = try cannedClient(body: String(decoding: Self.page([ours]), as: UTF8.self))
        await #expect(throws: LookupUnreadable.self) {
            _ = try await client.findInvoice(
                tradeNo: TradeNo("T-1"), machineID: "VVM-005", since: Date(timeIntervalSince1970: 1_767_225_600))
        }
    }
}
