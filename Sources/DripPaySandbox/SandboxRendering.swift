import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Invoices as the API's JSON: decimals, dates, the invoice object.
extension SandboxState {
    // MARK: Rendering

    static func decimal(_ value: Int64, places: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let frac = String(value % scale)
        return "\(value / scale).\(String(repeating: "0", count: places - frac.count))\(frac)"
    }

    /// `2025-10-27T20:12:23+00:00`, as Laravel's toIso8601String() writes UTC.
    static func iso8601(_ date: Date) -> String { CivilDate.iso8601(date) }

    func invoiceJSON(_ invoice: SandboxInvoice) -> JSON {
        let created = JSON.string(Self.iso8601(invoice.createdAt))
        var payment = JSON.null
        if invoice.status == .paid, let sats = invoice.paymentSats, let paidAt = invoice.paidAt {
            payment = .object([
                ("amount", .string(Self.decimal(sats, places: 8))), ("currency", .string("BTC")),
                ("status", .string("PAID")), ("status_label", .string("Paid")),
                ("completed_at", .string(Self.iso8601(paidAt))),
            ])
        }
        return .object([
            ("reference", .string(invoice.reference)),
            ("provider", .string("strike")),
            ("provider_account_username", .string("sandbox")),
            ("provider_invoice_id", .string(invoice.providerInvoiceID)),
            ("machine_id", .string(invoice.machineID)),
            ("trade_no", .string(invoice.tradeNo)),
            ("currency", .string(invoice.currency)),
            ("total", .string(Self.decimal(invoice.totalCents, places: 2))),
            ("status", .string(statusWord(invoice))),
            ("status_label", .string(statusWord(invoice).capitalized)),
            ("qr_code_image_url", .string("\(origin)/qr_codes/\(invoice.providerInvoiceID).webp")),
            (
                "items",
                .array(
                    invoice.items.map {
                        .object([
                            ("reference", .string($0.reference)), ("description", .string($0.description)),
                            ("amount", .string(Self.decimal($0.amount, places: 8))), ("created_at", created),
                        ])
                    })
            ),
            ("payment", payment),
            ("created_at", created),
            ("updated_at", .string(Self.iso8601(invoice.updatedAt))),
        ])
    }

    /// The invoice as a broken API might send it: `provider_invoice_id: null`, a total of
    /// `"1.505"`, an unparseable `created_at`, no payable code. The reference stays readable.
    func malformedInvoiceJSON(_ invoice: SandboxInvoice) -> JSON {
        guard case .object(let fields) = invoiceJSON(invoice) else { return invoiceJSON(invoice) }
        return .object(
            fields.map { field in
                switch field.0 {
                case "provider_invoice_id", "qr_code_image_url": return (field.0, .null)
                case "total": return (field.0, .string("1.505"))
                case "created_at": return (field.0, .string("yesterday"))
                default: return field
                }
            })
    }
}
