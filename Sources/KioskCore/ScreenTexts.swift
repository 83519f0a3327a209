/// The languages the customer's screens ship in (`[display] language`).
public enum ScreenLanguage: String, Hashable, Sendable, CaseIterable {
    case en, de, fr, es, pt, it, nl, pl
}

/// Every text a customer reads on the machine's screen, by the name `[display.texts]` overrides
/// it with. `{name}` placeholders are filled in when the screen is drawn (`placeholders`).
public enum ScreenTextKey: String, Hashable, Sendable, CaseIterable {
    case idleMessage = "idle_message"
    case scanToPay = "scan_to_pay"
    case priceLabel = "price_label"
    case timeLeft = "time_left"
    case gettingCode = "getting_code"
    case refreshingCode = "refreshing_code"
    case noCode = "no_code"
    case noticeLabel = "notice_label"
    case goingOutOfService = "going_out_of_service"
    case paidHeading = "paid_heading"
    case dispensing = "dispensing"
    case cancelledHeading = "cancelled_heading"
    case cancelledTimeout = "cancelled_timeout"
    case cancelledAborted = "cancelled_aborted"
    case cancelledUnavailable = "cancelled_unavailable"
    case cancelledError = "cancelled_error"
    case outOfServiceHeading = "out_of_service_heading"
    case outOfServiceBody = "out_of_service_body"
    case notDispensedHeading = "not_dispensed_heading"
    case problemHeading = "problem_heading"
    case refundDue = "refund_due"
    case dispenseUnknown = "dispense_unknown"
    case unresolved = "unresolved"
    case customerReference = "customer_reference"
    case refundContact = "refund_contact"

    /// The placeholders this text may hold; any other `{name}` in an override is a config error.
    public var placeholders: [String] {
        switch self {
        case .timeLeft: return ["time"]
        case .dispensing: return ["product"]
        case .customerReference: return ["customer_reference"]
        case .refundContact: return ["contact"]
        default: return []
        }
    }
}

/// The screens' texts in one language, with the operator's overrides (`[display.texts]`) on top,
/// and money written the way that language writes it.
public struct ScreenTexts: Hashable, Sendable {
    public var language: ScreenLanguage
    /// Texts that replace the shipped translation, by key.
    public var overrides: [ScreenTextKey: String]

    public init(language: ScreenLanguage = .en, overrides: [ScreenTextKey: String] = [:]) {
        self.language = language
        self.overrides = overrides
    }

    /// The text for `key`, placeholders left as written.
    public subscript(key: ScreenTextKey) -> String {
        overrides[key] ?? ScreenCatalogue.text(key, in: language)
    }

    /// The text for `key` with each `{name}` replaced by `values[name]`.
    public func text(_ key: ScreenTextKey, _ values: [String: String] = [:]) -> String {
        var text = self[key]
        for (name, value) in values { text = text.replacingAll("{\(name)}", with: value) }
        return text
    }

    /// `amount` as this language writes it in its currency: "$1.50" (en), "1,50 €" (de, fr).
    public func price(_ amount: Money) -> String { MoneyFormat.format(amount, language: language) }

    /// The names in `{…}` within `text` that `key` does not offer, in order of appearance: the
    /// config check reports them (a typo would otherwise reach the customer as written).
    public static func unknownPlaceholders(in text: String, for key: ScreenTextKey) -> [String] {
        var unknown: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            let name = String(after[..<close])
            if !key.placeholders.contains(name), !unknown.contains(name) { unknown.append(name) }
            rest = after[after.index(after: close)...]
        }
        return unknown
    }
}

/// Writes money exactly (from integer minor units, never a float) in a language's conventions:
/// decimal and grouping separators, and where the currency's symbol goes.
public enum MoneyFormat {
    /// How one language writes an amount.
    struct Style {
        var decimal: Character
        var grouping: Character
        /// Symbol before the number ("$1.50", "€ 1,50") or after it ("1,50 €").
        var symbolFirst: Bool
        /// A no-break space between symbol and number (never for a one-character symbol in `en`).
        var spaced: Bool
    }

    /// CLDR's patterns for the shipped languages (pt: Portugal's; nl puts the symbol first).
    static func style(_ language: ScreenLanguage) -> Style {
        switch language {
        case .en: return Style(decimal: ".", grouping: ",", symbolFirst: true, spaced: false)
        case .de, .es, .it: return Style(decimal: ",", grouping: ".", symbolFirst: false, spaced: true)
        case .fr, .pl, .pt: return Style(decimal: ",", grouping: "\u{202F}", symbolFirst: false, spaced: true)
        case .nl: return Style(decimal: ",", grouping: ".", symbolFirst: true, spaced: true)
        }
    }

    /// The symbol a customer knows for `currency`; the ISO code for the rest.
    public static func symbol(_ currency: Currency) -> String {
        switch currency.code {
        case "EUR": return "€"
        case "USD": return "$"
        case "GBP": return "£"
        case "JPY": return "¥"
        case "PLN": return "zł"
        case "BRL": return "R$"
        default: return currency.code
        }
    }

    /// `amount` in `language`: "$1.50", "1,50 €", "€ 1,50", "CHF 1.50"; the space is a
    /// no-break space, so a price is never wrapped apart.
    public static func format(_ amount: Money, language: ScreenLanguage) -> String {
        let style = style(language)
        let digits = amount.currency.minorDigits
        let magnitude = String(amount.minorUnits.magnitude)
        let padded = String(repeating: "0", count: max(0, digits + 1 - magnitude.count)) + magnitude
        let whole = Array(padded.dropLast(digits))
        var grouped = ""
        for (index, digit) in whole.enumerated() {
            if index > 0, (whole.count - index) % 3 == 0 { grouped.append(style.grouping) }
            grouped.append(digit)
        }
        var number = (amount.minorUnits < 0 ? "-" : "") + grouped
        if digits > 0 { number += String(style.decimal) + padded.suffix(digits) }
        let symbol = symbol(amount.currency)
        // A symbol ending in a letter (CHF, zł) never touches the digits, even in English.
        let touching = style.symbolFirst ? symbol.last : symbol.first
        let space = style.spaced || touching?.isLetter == true ? "\u{00A0}" : ""
        return style.symbolFirst ? symbol + space + number : number + space + symbol
    }
}
