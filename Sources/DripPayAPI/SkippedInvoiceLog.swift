import DripPayModels
import Logging
import Synchronization

/// The malformed invoices list pages held (`InvoicePage.skipped`): each is logged once (by
/// reference, or by its text when it has none), not on every page read, and counted for the
/// `drippay_kiosk_api_malformed_invoices_total` metric.
public final class SkippedInvoiceLog: Sendable {
    /// At most this many distinct ones are remembered; past it, each is logged again (bounded memory).
    static let capacity = 1024
    private let state = Mutex<(seen: Set<String>, count: Int)>(([], 0))

    public init() {}

    /// Distinct malformed invoices seen so far.
    public var count: Int { state.withLock { $0.count } }

    func record(_ skipped: [SkippedInvoice], logger: Logger) {
        for invoice in skipped {
            let key = invoice.reference ?? invoice.description
            let first = state.withLock { value -> Bool in
                guard !value.seen.contains(key) else { return false }
                if value.seen.count >= Self.capacity { value.seen.removeAll(keepingCapacity: true) }
                value.seen.insert(key)
                value.count += 1
                return true
            }
            if first {
                logger.warning(
                    "GET /invoices: skipped a malformed invoice of the list",
                    metadata: ["invoice": "\(invoice)"])
            }
        }
    }
}
