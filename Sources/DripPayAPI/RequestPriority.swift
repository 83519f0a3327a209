/// Who goes first when a fleet's shared budget is tight: what a vend in progress needs now, then
/// the polls of a customer who is paying, then recovery, then the health check.
public enum RequestPriority: Int, Hashable, Sendable, Comparable {
    /// `/ping`: paced at a quarter of the route's rate.
    case healthCheck = 0
    /// `GET /invoices` (lookups after a lost create, recovery): paced at half the route's rate.
    case recovery = 1
    /// `GET /invoices/{reference}/status`: paced at the route's rate.
    case poll = 2
    /// Creates, cancels and the re-checks of a vend in progress: only the hard budget applies.
    case vend = 3

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// How much of the hard budget's window a request leaves free for higher priorities: lookups
    /// (which may read many pages) and the health check leave a quarter (at least one grant), so a
    /// long lookup never starves a vend.
    func reserve(of limit: Int) -> Int {
        switch self {
        case .vend, .poll: return 0
        case .recovery, .healthCheck: return limit >= 2 ? max(1, limit / 4) : 0
        }
    }

    /// How many of the route's paced intervals one request of this priority waits.
    var paceFactor: Double? {
        switch self {
        case .vend: return nil
        case .poll: return 1
        case .recovery: return 2
        case .healthCheck: return 4
        }
    }
}

extension Endpoint {
    /// The priority of a request to this endpoint, by what it is for.
    public var priority: RequestPriority {
        switch (method, path) {
        case ("GET", "/ping"): return .healthCheck
        case ("GET", "/invoices"): return .recovery
        case ("GET", _) where path.hasSuffix("/status"): return .poll
        default: return .vend  // POST /invoices, DELETE and GET /invoices/{reference}
        }
    }
}
