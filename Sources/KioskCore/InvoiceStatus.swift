/// An invoice's status: one total mapping of every word the status and invoice routes may say.
///
/// The API documents `pending`, `paid` and `cancelled` (exactly these, lower case). Every other
/// word (`expired`, `failed`, `refunded`, an empty or unknown text, `Paid` in another case) is
/// `notPayable`, kept verbatim for the journal: the invoice cannot be paid now, so the session
/// ends (its invoice cancelled if the API still takes a cancel). A later `paid` for the same
/// invoice is still a payment: the session re-checks before it ends.
public enum InvoiceStatus: Hashable, Sendable, CustomStringConvertible {
    case pending, paid, cancelled
    /// Any other word, verbatim: terminal, not payable.
    case notPayable(String)

    public init(apiValue: String) {
        switch apiValue {
        case "pending": self = .pending
        case "paid": self = .paid
        case "cancelled": self = .cancelled
        default: self = .notPayable(apiValue)
        }
    }

    /// The string the API uses.
    public var apiValue: String {
        switch self {
        case .pending: return "pending"
        case .paid: return "paid"
        case .cancelled: return "cancelled"
        case .notPayable(let s): return s
        }
    }

    /// Not cancelled: the invoice still counts for its trade_no (a lookup keeps it, a duplicate
    /// sweep cancels it).
    public var isLive: Bool { self != .cancelled }

    /// The word when the status is neither pending, paid nor cancelled.
    public var notPayableWord: String? {
        if case .notPayable(let word) = self { return word }
        return nil
    }

    public var description: String { apiValue }
}
