import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Sessions as CSV or JSON for audits and bookkeeping. Amounts are exact decimal strings in the
/// currency's minor digits (`1.50`), times ISO 8601 UTC with milliseconds; names match the journal's columns.
public enum JournalExport {
    /// The CSV columns, in order.
    public static let columns = [
        "trade_no", "vend_id", "product", "item_description", "price", "currency", "state", "reference",
        "provider_invoice_id", "qr_payload", "created_at", "updated_at", "payment_deadline", "paid_at", "note",
        "codes_shown", "resolved_at", "resolved_by", "resolution_note",
    ]

    /// The journal event written for each payment code the pay screen showed.
    public static let codeShownEvent = JournalEventKind.qrShown.rawValue

    private static func fields(
        _ record: SessionRecord, codes: [TradeNo: [String]], resolutions: [TradeNo: SessionResolution]
    ) -> [String?] {
        let resolution = resolutions[record.tradeNo]
        return [
            record.tradeNo.rawValue, record.vendID.rawValue, record.product.rawValue, record.itemDescription,
            record.price.decimalString, record.price.currency.code, record.state.rawValue, record.reference?.rawValue,
            record.providerInvoiceID, record.qrPayload, record.createdAt.journalISO8601,
            record.updatedAt.journalISO8601, record.paymentDeadline?.journalISO8601, record.paidAt?.journalISO8601,
            record.note,
            // Every code that was on screen (for BOLT11: payment hash, amount, expiry, request), oldest first.
            codes[record.tradeNo].map { $0.joined(separator: " ; ") },
            // An operator's settlement of an audit session (`journal resolve`); empty while open.
            resolution?.resolvedAt.journalISO8601, resolution?.resolvedBy, resolution?.note,
        ]
    }

    /// RFC 4180 CSV: a header row, CRLF line ends, fields quoted when they hold `,` `"` CR or LF
    /// (quotes doubled). A missing value is an empty field.
    /// `codes`: each session's `qr_shown` event details, oldest first; `resolutions`: each resolved
    /// session's resolution.
    public static func csv(
        sessions: [SessionRecord], codes: [TradeNo: [String]] = [:], resolutions: [TradeNo: SessionResolution] = [:]
    ) -> String {
        var lines = [columns.map(quoteCSV).joined(separator: ",")]
        for record in sessions {
            lines.append(
                fields(record, codes: codes, resolutions: resolutions).map { quoteCSV($0 ?? "") }.joined(separator: ",")
            )
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func quoteCSV(_ field: String) -> String {
        let needsQuotes = field.contains { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard needsQuotes else { return field }
        return "\"" + field.replacingAll("\"", with: "\"\"") + "\""
    }

    /// A JSON array of objects with sorted keys; a missing value is `null` (every key always present).
    public static func json(
        sessions: [SessionRecord], codes: [TradeNo: [String]] = [:], resolutions: [TradeNo: SessionResolution] = [:]
    ) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let rows = sessions.map { ExportRow(keys: columns, values: fields($0, codes: codes, resolutions: resolutions)) }
        // Encoding strings and nulls cannot fail.
        return (try? encoder.encode(rows)) ?? Data("[]".utf8)
    }

    private struct ExportRow: Encodable {
        let keys: [String]
        let values: [String?]

        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for (key, value) in zip(keys, values) {
                try container.encode(value, forKey: Key(stringValue: key))
            }
        }
    }
}

extension Journal {
    /// `JournalExport.csv` with each session's codes shown and resolution read from the journal.
    public func exportCSV(sessions: [SessionRecord]) throws(JournalError) -> String {
        JournalExport.csv(
            sessions: sessions, codes: try codesShown(sessions), resolutions: try resolutions(of: sessions))
    }
    /// `JournalExport.json` with each session's codes shown and resolution read from the journal.
    public func exportJSON(sessions: [SessionRecord]) throws(JournalError) -> Data {
        JournalExport.json(
            sessions: sessions, codes: try codesShown(sessions), resolutions: try resolutions(of: sessions))
    }

    /// The `qr_shown` event details of each session that has any.
    func codesShown(_ sessions: [SessionRecord]) throws(JournalError) -> [TradeNo: [String]] {
        var codes: [TradeNo: [String]] = [:]
        for record in sessions {
            let shown = try events(tradeNo: record.tradeNo).filter { $0.kind == JournalExport.codeShownEvent }.map(
                \.detail)
            if !shown.isEmpty { codes[record.tradeNo] = shown }
        }
        return codes
    }
}
