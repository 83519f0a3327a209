import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `POST /invoices`: the API's validation rules, then the invoice.
extension SandboxState {
    // MARK: Create

    mutating func create(_ request: SandboxRequest, now: Date) -> SandboxOutcome {
        let body = (try? JSON.parse(request.body)) ?? .object([])
        var errors: [(String, [String])] = []
        func fail(_ field: String, _ message: String) { errors.append((field, [message])) }
        func requiredString(_ field: String, max: Int) -> String? {
            let name = field.replacingAll("_", with: " ")
            switch body[field] {
            case .string(let s) where !s.trimmingWhitespace().isEmpty:
                if s.count > max { fail(field, "The \(name) field must not be greater than \(max) characters.") }
                return s
            case nil, .null?, .string?: fail(field, "The \(name) field is required.")
            default: fail(field, "The \(name) field must be a string.")
            }
            return nil
        }
        let machineID = requiredString("machine_id", max: 255)
        let tradeNo = requiredString("trade_no", max: 255)
        let currency = requiredString("currency", max: 255)
        if let currency, currency.count != 3 {
            errors.removeAll { $0.0 == "currency" }
            fail("currency", "The currency field must be 3 characters.")
        }
        var items: [(String, Int64)] = []
        switch body["items"] {
        case .array(let list) where !list.isEmpty:
            for (i, item) in list.enumerated() {
                var description: String?
                switch item["description"] {
                case .string(let s) where !s.isEmpty:
                    if s.count > 255 {
                        fail(
                            "items.\(i).description",
                            "The items.\(i).description field must not be greater than 255 characters.")
                    }
                    description = s
                case nil, .null?, .string?:
                    fail("items.\(i).description", "The items.\(i).description field is required.")
                default: fail("items.\(i).description", "The items.\(i).description field must be a string.")
                }
                var amount: Int64?
                switch item["amount"] {
                case .number(let n), .string(let n):
                    if n.isEmpty {
                        fail("items.\(i).amount", "The items.\(i).amount field is required.")
                    } else if let units = Self.decimalUnits(n) {
                        if units < 1_000_000 {
                            fail("items.\(i).amount", "The items.\(i).amount field must be at least 0.01.")
                        } else {
                            amount = units
                        }
                    } else {
                        fail("items.\(i).amount", "The items.\(i).amount field must be a number.")
                    }
                case nil, .null?: fail("items.\(i).amount", "The items.\(i).amount field is required.")
                default: fail("items.\(i).amount", "The items.\(i).amount field must be a number.")
                }
                if let description, let amount { items.append((description, amount)) }
            }
        case .array?: fail("items", "The items field must have at least 1 items.")
        case nil, .null?: fail("items", "The items field is required.")
        default: fail("items", "The items field must be an array.")
        }
        if !errors.isEmpty {
            let first = errors[0].1[0]
            let more = errors.count - 1
            let message = more == 0 ? first : "\(first) (and \(more) more error\(more == 1 ? "" : "s"))"
            return .respond(
                .json(
                    422,
                    .object([
                        ("message", .string(message)),
                        ("errors", .object(errors.map { ($0.0, .array($0.1.map(JSON.string))) })),
                    ])))
        }

        let fault = faults.createFaults.isEmpty ? nil : faults.createFaults.removeFirst()
        if fault == .dropBeforeCommit { return .drop }
        let invoice = SandboxInvoice(
            reference: UUID().uuidString.lowercased(), providerInvoiceID: UUID().uuidString.lowercased(),
            machineID: machineID!, tradeNo: tradeNo!, currency: currency!.uppercased(),
            items: items.map {
                SandboxInvoice.Item(reference: UUID().uuidString.lowercased(), description: $0.0, amount: $0.1)
            },
            status: .pending, deleted: false, createdAt: now, updatedAt: now, paidAt: nil, paymentSats: nil,
            sequence: sequence, autoPayAt: autoPayAfter.map { now.addingTimeInterval($0.inSeconds) })
        sequence += 1
        invoices.append(invoice)
        byReference[invoice.reference] = invoices.count - 1
        if invoice.autoPayAt != nil { autoPayQueue.append(invoices.count - 1) }
        switch fault {
        case .dropAfterCommit?: return .drop
        case .serverErrorAfterCommit(let status)?: return .respond(.message(status, "Server Error"))
        case .dropAfterCommitBehind(let newer, let machine)?:
            _ = addInvoices(count: newer, machineID: machine, now: now)
            return .drop
        case .malformedAfterCommit?:
            return .respond(.json(201, .object([("data", malformedInvoiceJSON(invoice))])))
        default: return .respond(.json(201, .object([("data", invoiceJSON(invoice))])))
        }
    }

    /// A non-negative plain decimal (`1`, `1.5`, `"0.10"`) in units of 10^-8, rounded half up
    /// to 8 places like the API's decimal column; nil when not a plain decimal or negative.
    /// Negative amounts come back as 0 so that they fail the minimum rule, as in Laravel.
    static func decimalUnits(_ text: String) -> Int64? {
        var t = Substring(text.trimmingWhitespace())
        var negative = false
        if t.hasPrefix("-") { negative = true; t = t.dropFirst() }
        let parts = t.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits: (Substring) -> Bool = { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard isDigits(parts[0]), parts.count == 1 || isDigits(parts[1]), parts[0].count <= 10 else { return nil }
        if negative { return 0 }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        var roundUp = false
        if fraction.count > 8 {
            roundUp = fraction[fraction.index(fraction.startIndex, offsetBy: 8)] >= "5"
            fraction = String(fraction.prefix(8))
        }
        fraction += String(repeating: "0", count: 8 - fraction.count)
        guard let whole = Int64(parts[0]), let frac = Int64(fraction) else { return nil }
        return whole * 100_000_000 + frac + (roundUp ? 1 : 0)
    }
}
