/// How the daemon configures a Qibixx MDB adapter (profile/config `[qibixx]`). The adapter
/// forgets these at every power-on, so they are sent after every (re)connect and reset
/// (`C,0`, `C,SETCONF,<parameter>=<value>` each answered `c,SET,OK`, then `C,1`). See
/// docs/qibixx-mdb-notes.md for where each parameter name and value syntax comes from.
public struct QibixxSettings: Hashable, Sendable {
    /// Who opens a vend session.
    public enum SessionMode: String, Hashable, Sendable, CaseIterable {
        /// The machine asks for a vend at any time (MDB "always idle", selection first).
        case alwaysIdle = "always-idle"
        /// The machine only asks inside a session the reader opens (`C,START,<funds>`).
        case startSession = "start-session"
    }

    public var sessionMode: SessionMode
    /// `mdb-decimal-places` (0...3): digits after the point in the adapter's amounts.
    public var decimalPlaces: Int
    /// `mdb-scale-factor` (1...100): an adapter amount times this is the price.
    public var scaleFactor: Int
    /// `mdb-timeout-vend` in seconds; nil leaves the adapter's default.
    public var vendTimeoutSeconds: Int?

    public static let decimalPlacesRange = 0...3
    public static let scaleFactorRange = 1...100

    public init(
        sessionMode: SessionMode = .alwaysIdle, decimalPlaces: Int = 2, scaleFactor: Int = 1,
        vendTimeoutSeconds: Int? = nil
    ) {
        self.sessionMode = sessionMode
        self.decimalPlaces = decimalPlaces
        self.scaleFactor = scaleFactor
        self.vendTimeoutSeconds = vendTimeoutSeconds
    }

    /// Defaults for a currency: as many decimal places as the currency has minor digits
    /// (at most 3), scale factor 1.
    public static func defaults(for currency: Currency) -> QibixxSettings {
        QibixxSettings(decimalPlaces: min(currency.minorDigits, 3))
    }

    /// `mdb-currency-code`: `0x1` followed by the ISO 4217 numeric code (`0x1840` for USD), or
    /// nil when the numeric code of `currency` is not known.
    public static func currencyCode(_ currency: Currency) -> String? {
        guard let numeric = Currency.isoNumeric[currency.code] else { return nil }
        let digits = String(numeric)
        return "0x1" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }

    /// The `C,SETCONF` parameters in the order they are sent; nil when the currency has no
    /// known numeric code (check-config refuses that).
    public func parameters(currency: Currency) -> [(name: String, value: String)]? {
        guard let code = Self.currencyCode(currency) else { return nil }
        var list: [(name: String, value: String)] = [
            ("mdb-always-idle", sessionMode == .alwaysIdle ? "1" : "0"),
            ("mdb-currency-code", code),
            ("mdb-decimal-places", String(decimalPlaces)),
            ("mdb-scale-factor", String(scaleFactor)),
        ]
        if let vendTimeoutSeconds { list.append(("mdb-timeout-vend", String(vendTimeoutSeconds))) }
        return list
    }

    /// The config key behind each parameter (for error messages a technician can act on).
    public static func configKey(forParameter name: String) -> String {
        switch name {
        case "mdb-always-idle": return "qibixx.session_mode"
        case "mdb-currency-code": return "currency"
        case "mdb-decimal-places": return "qibixx.decimal_places"
        case "mdb-scale-factor": return "qibixx.scale_factor"
        case "mdb-timeout-vend": return "qibixx.vend_timeout_s"
        default: return "qibixx"
        }
    }
}

extension Currency {
    /// ISO 4217 numeric codes of the currencies in `knownMinorDigits` (MDB currency codes
    /// carry them, see appendix A of the MDB specification).
    public static let isoNumeric: [String: Int] = [
        "USD": 840, "EUR": 978, "GBP": 826, "CHF": 756, "CAD": 124, "AUD": 36, "NZD": 554, "SEK": 752,
        "NOK": 578, "DKK": 208, "PLN": 985, "CZK": 203, "HUF": 348, "RON": 946, "BGN": 975, "MXN": 484,
        "BRL": 986, "ARS": 32, "COP": 170, "PEN": 604, "ZAR": 710, "NGN": 566, "KES": 404, "GHS": 936,
        "INR": 356, "PKR": 586, "PHP": 608, "THB": 764, "SGD": 702, "HKD": 344, "CNY": 156, "TWD": 901,
        "MYR": 458, "IDR": 360, "TRY": 949, "ILS": 376, "AED": 784, "SAR": 682, "QAR": 634, "EGP": 818,
        "MAD": 504, "UAH": 980, "GEL": 981, "SVC": 222, "GTQ": 320, "CRC": 188, "DOP": 214, "JPY": 392,
        "KRW": 410, "VND": 704, "CLP": 152, "ISK": 352, "UGX": 800, "XAF": 950, "XOF": 952, "PYG": 600,
        "RWF": 646, "BHD": 48, "KWD": 414, "OMR": 512, "JOD": 400, "TND": 788, "LYD": 434, "IQD": 368,
    ]
}

/// Reads an adapter amount (`c,STATUS,VEND,<amount>,...`) as a price: at most `decimalPlaces`
/// digits after the point, times `scaleFactor`, exact in the currency's minor units.
public enum QibixxAmount {
    public enum Problem: Error, Hashable, Sendable, CustomStringConvertible {
        case notADecimal(String)
        case tooManyDecimals(String, allowed: Int)
        case notWholeMinorUnits(String, Currency)
        case tooLarge(String)
        case zero(String)

        public var description: String {
            switch self {
            case .notADecimal(let s): return "'\(s)' is not an amount (digits with an optional '.' and fraction)"
            case .tooManyDecimals(let s, let allowed):
                return "'\(s)' has more than the adapter's \(allowed) decimal place(s) (qibixx.decimal_places)"
            case .notWholeMinorUnits(let s, let currency):
                return "'\(s)' is not a whole number of \(currency.code) minor units after the scale factor"
            case .tooLarge(let s): return "'\(s)' is too large"
            case .zero(let s): return "'\(s)' is zero; a vend must cost something"
            }
        }
    }

    public static func price(_ text: String, settings: QibixxSettings, currency: Currency) throws(Problem) -> Money {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        let isDigits: (Substring) -> Bool = { $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard !whole.isEmpty, isDigits(whole), isDigits(fraction), parts.count == 1 || !fraction.isEmpty else {
            throw .notADecimal(text)
        }
        guard fraction.count <= settings.decimalPlaces else {
            throw .tooManyDecimals(text, allowed: settings.decimalPlaces)
        }
        guard whole.count + fraction.count <= 15, let digits = Int64(whole + fraction) else { throw .tooLarge(text) }
        // price minor = digits * scale * 10^minor / 10^fraction
        let (scaled, overflow) = digits.multipliedReportingOverflow(by: Int64(settings.scaleFactor))
        guard !overflow else { throw .tooLarge(text) }
        var value = scaled
        var exponent = currency.minorDigits - fraction.count
        while exponent > 0 {
            let (next, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { throw .tooLarge(text) }
            value = next
            exponent -= 1
        }
        while exponent < 0 {
            guard value % 10 == 0 else { throw .notWholeMinorUnits(text, currency) }
            value /= 10
            exponent += 1
        }
        guard value > 0 else { throw .zero(text) }
        return Money(minorUnits: value, currency: currency)
    }
}
