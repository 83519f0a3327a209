/// A DripPay API token ability (Sanctum). Shared by the API client, which checks a token's
/// abilities, and the sandbox, which enforces them.
public enum Ability: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case listInvoice = "list-invoice"
    case viewInvoice = "view-invoice"
    case createInvoice = "create-invoice"
    case cancelInvoice = "cancel-invoice"

    /// The label `/ping` answers with, e.g. `View Invoice`.
    public var label: String {
        switch self {
        case .listInvoice: return "List Invoice"
        case .viewInvoice: return "View Invoice"
        case .createInvoice: return "Create Invoice"
        case .cancelInvoice: return "Cancel Invoice"
        }
    }

    /// Accepts a label (`View Invoice`) or a name (`view-invoice`), case- and separator-insensitively.
    public init?(labelOrName text: String) {
        let key = String(text.lowercased().map { $0 == " " || $0 == "_" ? "-" : $0 })
        guard let ability = Ability(rawValue: key) else { return nil }
        self = ability
    }

    public var description: String { rawValue }
}
