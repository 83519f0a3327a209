/// The text put into the QR code, from `[qr] payload`: literal text with placeholders such as
/// `https://pay.example.com/i/{reference}`. Parsed once at load time, so that an unknown
/// placeholder is a config error and never a surprise at the first vend.
public struct QRPayloadTemplate: Hashable, Sendable, CustomStringConvertible {
    /// A value a placeholder stands for.
    public enum Placeholder: String, Hashable, Sendable, CaseIterable {
        /// The invoice reference (UUID) from the API.
        case reference
        /// The payment provider's id of the invoice.
        case providerInvoiceID = "provider_invoice_id"
        /// The total in major units, e.g. `1.50`.
        case total
        /// The ISO 4217 code, e.g. `USD`.
        case currency
        /// The URL of a QR image the API may provide.
        case qrCodeImageURL = "qr_code_image_url"
        /// The daemon's own `trade_no`.
        case tradeNo = "trade_no"
        /// `machine_id` from the config.
        case machineID = "machine_id"
    }

    /// One piece of the template.
    public enum Part: Hashable, Sendable {
        case text(String)
        case placeholder(Placeholder)
    }

    /// Why a payload template is not usable.
    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        case empty
        case unknownPlaceholder(String)
        case unclosedBrace(column: Int)
        case strayClosingBrace(column: Int)

        public var description: String {
            let allowed = Placeholder.allCases.map { "{\($0.rawValue)}" }.joined(separator: ", ")
            switch self {
            case .empty:
                return "qr.payload is empty; give the text to encode, e.g. \"https://pay.example.com/i/{reference}\""
            case .unknownPlaceholder(let name):
                return "qr.payload has an unknown placeholder {\(name)}; allowed: \(allowed)"
            case .unclosedBrace(let column):
                return "qr.payload has a '{' at column \(column) without a closing '}'; placeholders are \(allowed)"
            case .strayClosingBrace(let column):
                return "qr.payload has a '}' at column \(column) without an opening '{'; placeholders are \(allowed)"
            }
        }
    }

    /// The template as written in the config.
    public let source: String
    public let parts: [Part]

    public init(_ source: String) throws(ParseError) {
        guard !source.isEmpty else { throw .empty }
        var parts: [Part] = []
        var text = ""
        var name: String? = nil
        var braceColumn = 0
        for (offset, character) in source.enumerated() {
            let column = offset + 1
            if var current = name {
                if character == "}" {
                    guard let placeholder = Placeholder(rawValue: current) else { throw .unknownPlaceholder(current) }
                    parts.append(.placeholder(placeholder))
                    name = nil
                } else if character == "{" {
                    throw .unclosedBrace(column: braceColumn)
                } else {
                    current.append(character)
                    name = current
                }
            } else if character == "{" {
                if !text.isEmpty { parts.append(.text(text)) }
                text = ""
                name = ""
                braceColumn = column
            } else if character == "}" {
                throw .strayClosingBrace(column: column)
            } else {
                text.append(character)
            }
        }
        if name != nil { throw .unclosedBrace(column: braceColumn) }
        if !text.isEmpty { parts.append(.text(text)) }
        self.source = source
        self.parts = parts
    }

    /// The placeholders the template uses, in order of first use.
    public var placeholders: [Placeholder] {
        var seen: [Placeholder] = []
        for case .placeholder(let p) in parts where !seen.contains(p) { seen.append(p) }
        return seen
    }

    /// The payload with every placeholder replaced; a placeholder without a value becomes empty
    /// (check `placeholders` first when a value may be missing).
    public func render(_ values: [Placeholder: String]) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .placeholder(let p): out += values[p] ?? ""
            }
        }
        return out
    }

    public var description: String { source }
}
