import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a response lacked: the JSON path and what was expected there.
package struct DecodeFailure: Error {
    package let expected: String
    package init(expected: String) { self.expected = expected }
}

/// Parsed JSON, decoded with `JSONDecoder` (FoundationEssentials has no `JSONSerialization`).
/// Numbers are kept as `Double`, as `JSONSerialization`'s `NSNumber.doubleValue` gave them.
package enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    package var isNull: Bool { if case .null = self { true } else { false } }

    package static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }
}

/// A strict walk over parsed JSON that knows where it is, so a missing or mistyped field is
/// reported by its path (`data.items[0].amount`).
package struct JSONNode {
    package let value: JSONValue
    package let path: String

    package static func parse(_ bytes: [UInt8]) throws(DecodeFailure) -> JSONNode {
        do {
            let value = try JSONValue.parse(bytes)
            return JSONNode(value: value, path: "")
        } catch {
            let preview = String(decoding: bytes.prefix(60), as: UTF8.self)
            throw DecodeFailure(expected: "a JSON body, got '\(preview)\(bytes.count > 60 ? "..." : "")'")
        }
    }

    private func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    package func field(_ key: String) throws(DecodeFailure) -> JSONNode {
        guard case .object(let object) = value else {
            throw DecodeFailure(expected: "\(path.isEmpty ? "the body" : "field '\(path)'") to be a JSON object")
        }
        guard let v = object[key] else { throw DecodeFailure(expected: "field '\(child(key))' is missing") }
        return JSONNode(value: v, path: child(key))
    }

    /// The field, or nil when it is absent or `null`.
    package func optionalField(_ key: String) throws(DecodeFailure) -> JSONNode? {
        guard case .object(let object) = value else {
            throw DecodeFailure(expected: "\(path.isEmpty ? "the body" : "field '\(path)'") to be a JSON object")
        }
        guard let v = object[key], !v.isNull else { return nil }
        return JSONNode(value: v, path: child(key))
    }

    package var isNull: Bool { value.isNull }

    package func string() throws(DecodeFailure) -> String {
        guard case .string(let s) = value else { throw DecodeFailure(expected: "field '\(path)' to be a string") }
        return s
    }

    package func int() throws(DecodeFailure) -> Int {
        guard case .number(let n) = value, let i = Int(exactly: n) else {
            throw DecodeFailure(expected: "field '\(path)' to be an integer")
        }
        return i
    }

    package func array() throws(DecodeFailure) -> [JSONNode] {
        guard case .array(let a) = value else { throw DecodeFailure(expected: "field '\(path)' to be an array") }
        return a.enumerated().map { JSONNode(value: $1, path: "\(path)[\($0)]") }
    }

    package func optionalString(_ key: String) throws(DecodeFailure) -> String? { try optionalField(key)?.string() }
    package func string(_ key: String) throws(DecodeFailure) -> String { try field(key).string() }

    package func timestamp(_ key: String) throws(DecodeFailure) -> Timestamp {
        let node = try field(key)
        let text = try node.string()
        guard let t = Timestamp(iso8601: text) else {
            throw DecodeFailure(expected: "field '\(node.path)' to be an ISO-8601 timestamp with offset, got '\(text)'")
        }
        return t
    }

    /// A decimal amount string (`1.00`); `Money` when the currency is known fiat and the amount exact.
    package func amount(_ key: String, currency: Currency?) throws(DecodeFailure) -> Amount {
        let node = try field(key)
        let text = try node.string()
        guard isDecimal(text) else {
            throw DecodeFailure(expected: "field '\(node.path)' to be a decimal string such as \"1.00\", got '\(text)'")
        }
        let money = currency.flatMap { try? Money(parsing: text, currency: $0, allowingTrailingZeros: true) }
        return Amount(decimal: text, money: money)
    }
}

/// Digits with an optional fraction: the only amount syntax the API uses.
package func isDecimal(_ text: String) -> Bool {
    let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let digits: (Substring) -> Bool = { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
    return digits(parts[0]) && (parts.count == 1 || digits(parts[1]))
}

extension Invoice {
    package init(json node: JSONNode) throws(DecodeFailure) {
        let currencyCode = try node.string("currency")
        let currency = Currency(iso: currencyCode)
        reference = InvoiceReference(try node.string("reference"))
        provider = try node.string("provider")
        providerAccountUsername = try node.optionalString("provider_account_username")
        providerInvoiceID = try node.string("provider_invoice_id")
        machineID = try node.string("machine_id")
        tradeNo = TradeNo(try node.string("trade_no"))
        self.currencyCode = currencyCode
        total = try node.amount("total", currency: currency)
        status = InvoiceStatus(apiValue: try node.string("status"))
        statusLabel = try node.string("status_label")
        qrCodeImageURL = try node.optionalString("qr_code_image_url")
        var items: [InvoiceItem] = []
        for item in try node.field("items").array() {
            items.append(
                InvoiceItem(
                    reference: try item.string("reference"), description: try item.string("description"),
                    amount: try item.amount("amount", currency: currency), createdAt: try item.timestamp("created_at")))
        }
        self.items = items
        if let p = try node.optionalField("payment") {
            let amount = try p.field("amount")
            let amountText = try amount.string()
            guard isDecimal(amountText) else {
                throw DecodeFailure(expected: "field '\(amount.path)' to be a decimal string, got '\(amountText)'")
            }
            let completed = try p.optionalField("completed_at")
            var completedAt: Timestamp?
            if let completed {
                let text = try completed.string()
                guard let t = Timestamp(iso8601: text) else {
                    throw DecodeFailure(
                        expected: "field '\(completed.path)' to be an ISO-8601 timestamp, got '\(text)'")
                }
                completedAt = t
            }
            payment = Payment(
                amount: amountText, currency: try p.string("currency"), status: try p.string("status"),
                statusLabel: try p.string("status_label"), completedAt: completedAt)
        } else {
            _ = try node.field("payment")  // must be present, even if null
            payment = nil
        }
        createdAt = try node.timestamp("created_at")
        updatedAt = try node.timestamp("updated_at")
    }
}

extension InvoicePage {
    package init(json node: JSONNode) throws(DecodeFailure) {
        // Invoice by invoice: one malformed invoice (of any machine) must not hide the others.
        var data: [Invoice] = []
        var skipped: [SkippedInvoice] = []
        for (index, item) in try node.field("data").array().enumerated() {
            do {
                data.append(try Invoice(json: item))
            } catch {
                skipped.append(
                    SkippedInvoice(
                        index: index, reference: try? item.string("reference"),
                        machineID: try? item.string("machine_id"),
                        tradeNo: try? item.string("trade_no"), reason: error.expected))
            }
        }
        self.data = data
        self.skipped = skipped
        let l = try node.field("links")
        links = PageLinks(
            first: try l.optionalString("first"), last: try l.optionalString("last"),
            prev: try l.optionalString("prev"), next: try l.optionalString("next"))
        let m = try node.field("meta")
        meta = PageMeta(
            currentPage: try m.field("current_page").int(), from: try m.optionalField("from")?.int(),
            lastPage: try m.field("last_page").int(), perPage: try m.field("per_page").int(),
            to: try m.optionalField("to")?.int(), total: try m.field("total").int())
    }
}

extension PingResponse {
    package init(json node: JSONNode) throws(DecodeFailure) {
        message = try node.string("message")
        abilityLabels = try node.field("abilities").array().map { (n) throws(DecodeFailure) in try n.string() }
    }
}

/// The `message` and `errors` of a Laravel error body, when there is one.
package struct LaravelError {
    package var message: String?
    package var fields: [String: [String]] = [:]

    package init(bytes: [UInt8]) {
        guard case .object(let object) = try? JSONValue.parse(bytes) else { return }
        if case .string(let m) = object["message"] { message = m }
        if case .object(let errors) = object["errors"] {
            for (k, v) in errors {
                guard case .array(let list) = v else { fields[k] = []; continue }
                fields[k] = list.compactMap { if case .string(let s) = $0 { s } else { nil } }
            }
        }
    }
}
