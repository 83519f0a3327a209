/// An invoice's status. The API documents `pending`, `paid` and `cancelled`; anything else is
/// kept verbatim and means "not paid, not final".
public enum InvoiceStatus: Hashable, Sendable, CustomStringConvertible {
    case pending, paid, cancelled
    case other(String)

    public init(apiValue: String) {
        switch apiValue {
        case "pending": self = .pending
        case "paid": self = .paid
        case "cancelled": self = .cancelled
        default: self = .other(apiValue)
        }
    }

    /// The string the API uses.
    public var apiValue: String {
        switch self {
        case .pending: return "pending"
        case .paid: return "paid"
        case .cancelled: return "cancelled"
        case .other(let s): return s
        }
    }

    /// Pending or paid (or an unknown status): the invoice still counts for its trade_no.
    public var isLive: Bool { self != .cancelled }

    public var description: String { apiValue }
}
