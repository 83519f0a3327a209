#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where one vend session stands. Stored in the journal by its raw value.
///
/// requested -> invoiced (awaiting payment) -> paid -> dispensing -> dispensed;
/// side exits: cancelled, refund_due, dispense_unknown, unresolved, failed.
public enum SessionState: String, Hashable, Sendable, CaseIterable, Codable {
    /// Journaled; no invoice reference known yet (the create may or may not have reached the API).
    case requested
    /// Invoice created, QR shown, waiting for payment.
    case invoiced
    /// The API said `paid`; the dispense decision is not yet made.
    case paid
    /// The dispense decision is journaled; the command may have gone out.
    case dispensing
    /// The controller reported the product came out.
    case dispensed
    /// No payment; the invoice (if any) is cancelled at the API.
    case cancelled
    /// Paid but not dispensed: an operator must refund by hand.
    case refundDue = "refund_due"
    /// Dispense was commanded but its outcome is unknown (crash, controller gone). Never retried.
    case dispenseUnknown = "dispense_unknown"
    /// Ended without an invoice and without payment (invalid request, API refused).
    case failed
    /// The API could not tell, within the settling budget (docs/money-safety.md, "Bounded
    /// settling"), whether an invoice exists, is cancelled or was paid: an operator checks it at
    /// the API. Final: the daemon never asks about it again.
    case unresolved

    /// Final states never change again. The one definition: `finalStates` lists it, the journal's
    /// trigger that refuses to change a final session names the same (a test compares them).
    public var isFinal: Bool {
        switch self {
        case .dispensed, .cancelled, .refundDue, .dispenseUnknown, .unresolved, .failed: return true
        case .requested, .invoiced, .paid, .dispensing: return false
        }
    }

    /// Every final state (`isFinal`), in declaration order.
    public static let finalStates: [SessionState] = allCases.filter(\.isFinal)

    /// The audit states an operator settles by hand (`journal resolve`): money may be owed
    /// (`refund_due`), a product may have come out (`dispense_unknown`), or an invoice's fate is
    /// unknown (`unresolved`). In the order `journal refunds` lists them. The one list of them:
    /// the refunds listing, the resolve command and the open-audit metric all read it.
    public static let operatorSettleable: [SessionState] = [.refundDue, .dispenseUnknown, .unresolved]

    /// True for a state an operator settles by hand (`operatorSettleable`).
    public var isOperatorSettleable: Bool { Self.operatorSettleable.contains(self) }
}

/// An operator's record that a session in an audit state (`SessionState.operatorSettleable`) was
/// settled by hand: refunded, or checked at the machine. Written once, never changed; the session
/// itself keeps its state and history.
public struct SessionResolution: Hashable, Sendable {
    public var tradeNo: TradeNo
    /// The session's state when it was resolved.
    public var state: SessionState
    public var resolvedAt: Date
    /// Who settled it (`--by`, else the login name).
    public var resolvedBy: String
    /// What was done, e.g. "refunded 1.50 USD by bank transfer, ticket 4711".
    public var note: String

    public init(tradeNo: TradeNo, state: SessionState, resolvedAt: Date, resolvedBy: String, note: String) {
        self.tradeNo = tradeNo
        self.state = state
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.note = note
    }
}

/// One vend session as the journal keeps it: enough to resume, audit or refund it.
public struct SessionRecord: Hashable, Sendable {
    public var tradeNo: TradeNo
    public var vendID: VendID
    public var product: ProductCode
    /// The invoice item description (from the planogram `[vend.items]`).
    public var itemDescription: String
    public var price: Money
    public var state: SessionState
    public var reference: InvoiceReference?
    public var providerInvoiceID: String?
    /// The exact QR payload shown, so that a resumed session shows the same QR.
    public var qrPayload: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// When the QR comes down and the vend is cancelled if still unpaid.
    public var paymentDeadline: Date?
    public var paidAt: Date?
    /// Why the session ended as it did (refund due, failed, cancelled): for the operator.
    public var note: String?

    public init(
        tradeNo: TradeNo, vendID: VendID, product: ProductCode, itemDescription: String, price: Money,
        state: SessionState, reference: InvoiceReference? = nil, providerInvoiceID: String? = nil,
        qrPayload: String? = nil, createdAt: Date, updatedAt: Date, paymentDeadline: Date? = nil,
        paidAt: Date? = nil, note: String? = nil
    ) {
        self.tradeNo = tradeNo
        self.vendID = vendID
        self.product = product
        self.itemDescription = itemDescription
        self.price = price
        self.state = state
        self.reference = reference
        self.providerInvoiceID = providerInvoiceID
        self.qrPayload = qrPayload
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.paymentDeadline = paymentDeadline
        self.paidAt = paidAt
        self.note = note
    }
}
