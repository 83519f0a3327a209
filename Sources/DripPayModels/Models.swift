import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A decimal amount exactly as the API wrote it (`"1.00000000"`), plus its `Money` value when
/// the currency is a known fiat currency and the amount is exact in its minor units.
public struct Amount: Hashable, Sendable, CustomStringConvertible {
    public let decimal: String
    public let money: Money?

    public var description: String { decimal }
}

/// One line of an invoice.
public struct InvoiceItem: Hashable, Sendable {
    public let reference: String
    public let description: String
    /// In the invoice's currency, e.g. `1.00000000`.
    public let amount: Amount
    public let createdAt: Timestamp
}

/// The payment of a paid invoice (Bitcoin through the provider).
public struct Payment: Hashable, Sendable {
    /// Exact decimal string in the payment currency, e.g. `0.00001534` BTC.
    public let amount: String
    public let currency: String
    /// The provider's status, e.g. `PAID`.
    public let status: String
    public let statusLabel: String
    public let completedAt: Timestamp?
}

/// An invoice as the API returns it.
public struct Invoice: Hashable, Sendable {
    public let reference: InvoiceReference
    public let provider: String
    public let providerAccountUsername: String?
    public let providerInvoiceID: String
    public let machineID: String
    public let tradeNo: TradeNo
    /// The three-letter currency code as the API wrote it.
    public let currencyCode: String
    /// The server's sum of the item amounts, e.g. `1.00`.
    public let total: Amount
    public let status: InvoiceStatus
    public let statusLabel: String
    public let qrCodeImageURL: String?
    public let items: [InvoiceItem]
    /// Present once paid.
    public let payment: Payment?
    public let createdAt: Timestamp
    public let updatedAt: Timestamp
}

/// Pagination links of a Laravel paginator.
public struct PageLinks: Hashable, Sendable {
    public let first: String?
    public let last: String?
    public let prev: String?
    public let next: String?
}

/// Pagination counters of a Laravel paginator.
public struct PageMeta: Hashable, Sendable {
    public let currentPage: Int
    public let from: Int?
    public let lastPage: Int
    public let perPage: Int
    public let to: Int?
    public let total: Int
}

/// One page of `GET /invoices` (newest first).
public struct InvoicePage: Hashable, Sendable {
    /// The invoices that decoded; a malformed one is in `skipped`, never the whole page's failure.
    public let data: [Invoice]
    public let links: PageLinks
    public let meta: PageMeta
    /// The invoices of the page that did not decode, in page order.
    public var skipped: [SkippedInvoice] = []
}

/// An invoice of a list page that did not decode: what could be read of it, and why. A skipped
/// invoice is never used; one that names our machine and trade_no makes a lookup inconclusive.
public struct SkippedInvoice: Hashable, Sendable, CustomStringConvertible {
    /// Its place in the page's `data`.
    public let index: Int
    public let reference: String?
    public let machineID: String?
    public let tradeNo: String?
    /// What was wrong (the first field that failed).
    public let reason: String

    public init(index: Int, reference: String?, machineID: String?, tradeNo: String?, reason: String) {
        self.index = index
        self.reference = reference
        self.machineID = machineID
        self.tradeNo = tradeNo
        self.reason = reason
    }

    public var description: String {
        "data[\(index)] (reference \(reference ?? "?"), machine_id \(machineID ?? "?"), trade_no \(tradeNo ?? "?")): \(reason)"
    }
}

/// The answer of `GET /ping`.
public struct PingResponse: Hashable, Sendable {
    public let message: String
    /// The labels as sent (`View Invoice`).
    public let abilityLabels: [String]
    /// The labels this client understands.
    public var abilities: Set<Ability> { Set(abilityLabels.compactMap(Ability.init(labelOrName:))) }
}

/// What `POST /invoices` sends.
public struct CreateInvoiceRequest: Hashable, Sendable {
    /// One invoice line; the amount is exact money in the invoice currency.
    public struct Item: Hashable, Sendable {
        public let description: String
        public let amount: Money
        public init(description: String, amount: Money) {
            self.description = description
            self.amount = amount
        }
    }

    public let machineID: String
    public let tradeNo: TradeNo
    public let currency: Currency
    public let items: [Item]

    public init(machineID: String, tradeNo: TradeNo, currency: Currency, items: [Item]) {
        self.machineID = machineID
        self.tradeNo = tradeNo
        self.currency = currency
        self.items = items
    }

    /// The JSON body. Amounts are JSON number literals written from `Money.decimalString`, so no
    /// binary float is ever involved.
    public var jsonBody: String {
        let items = self.items.map {
            "{\"description\":\(jsonString($0.description)),\"amount\":\($0.amount.decimalString)}"
        }
        return "{\"machine_id\":\(jsonString(machineID)),\"trade_no\":\(jsonString(tradeNo.rawValue)),"
            + "\"currency\":\(jsonString(currency.code)),\"items\":[\(items.joined(separator: ","))]}"
    }
}

/// A JSON string literal for `text`.
package func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// `1.5` seconds as text, to the millisecond, without floating point.
package func formatSeconds(_ d: Duration) -> String {
    let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    return ms % 1000 == 0 ? "\(ms / 1000)" : "\(ms / 1000).\(zeroPadded3(Int(ms % 1000)))"
}

/// `String(format: "%03d", n)`: at least three characters, the sign counted, zeros after it.
private func zeroPadded3(_ n: Int) -> String {
    let digits = String(n.magnitude)
    let sign = n < 0 ? "-" : ""
    return sign + String(repeating: "0", count: max(0, 3 - sign.count - digits.count)) + digits
}

/// An ISO-8601 timestamp with offset as the API wrote it, with the instant it denotes.
public struct Timestamp: Hashable, Sendable, CustomStringConvertible {
    public let text: String
    public let date: Date

    /// Parses `2025-10-27T20:12:23+00:00` (also `Z`, fractional seconds); nil when not ISO-8601 with offset.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), b[13] == UInt8(ascii: ":"),
            b[16] == UInt8(ascii: ":"),
            let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2),
            let minute = num(14, 2), let second = num(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var nanos = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            if digits < 9 { for _ in digits..<9 { nanos *= 10 } }
        }
        var offset = 0
        if i < b.count, b[i] == UInt8(ascii: "Z"), i + 1 == b.count {
            offset = 0
        } else if i + 6 == b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"),
            b[i + 3] == UInt8(ascii: ":"), let oh = num(i + 1, 2), let om = num(i + 4, 2)
        {
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        let days = CivilDate.days(year: year, month: month, day: day)
        let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
        self.text = text
        self.date = Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(nanos) / 1e9)
    }

    public var description: String { text }
}
