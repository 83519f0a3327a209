/// An ISO 4217 currency and the number of minor digits its amounts carry.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    /// The three-letter upper-case code, e.g. `USD`.
    public let code: String
    /// Digits after the decimal separator: 2 for USD, 0 for JPY, 3 for KWD.
    public let minorDigits: Int

    public init(code: String, minorDigits: Int) {
        self.code = code
        self.minorDigits = minorDigits
    }

    /// The currency for an ISO 4217 code, or nil when the code is not one this project knows.
    public init?(iso code: String) {
        guard let digits = Currency.knownMinorDigits[code] else { return nil }
        self.init(code: code, minorDigits: digits)
    }

    public var description: String { code }

    /// The fiat currencies a vending machine may price in. Everything not listed has 2 digits
    /// in ISO 4217 except the exceptions spelled out here.
    public static let knownMinorDigits: [String: Int] = {
        var table: [String: Int] = [:]
        for code in [
            "USD", "EUR", "GBP", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN", "CZK",
            "HUF", "RON", "BGN", "MXN", "BRL", "ARS", "COP", "PEN", "ZAR", "NGN", "KES",
            "GHS", "INR", "PKR", "PHP", "THB", "SGD", "HKD", "CNY", "TWD", "MYR", "IDR", "TRY",
            "ILS", "AED", "SAR", "QAR", "EGP", "MAD", "UAH", "GEL", "SVC", "GTQ", "CRC", "DOP",
        ] {
            table[code] = 2
        }
        for code in ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"] {
            table[code] = 0
        }
        for code in ["BHD", "KWD", "OMR", "JOD", "TND", "LYD", "IQD"] {
            table[code] = 3
        }
        return table
    }()
}

/// An exact amount of money in integer minor units (cents for USD). Never a binary float.
public struct Money: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// Why a decimal string is not an amount of money.
    public enum ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        case empty
        case notADecimal(String)
        case tooManyDigits(String, allowed: Int)
        case negative(String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case .empty: return "empty amount"
            case .notADecimal(let s):
                return "'\(s)' is not a decimal amount (expected digits with an optional '.' and fraction, e.g. 1.50)"
            case .tooManyDigits(let s, let allowed):
                return "'\(s)' has more than \(allowed) digits after the decimal point"
            case .negative(let s): return "'\(s)' is negative"
            case .tooLarge(let s): return "'\(s)' is too large"
            }
        }
    }

    /// Parses a non-negative decimal in major units: `1.50`, `2`, `0.05`.
    ///
    /// - Parameter allowingTrailingZeros: when true, fraction digits beyond the currency's
    ///   minor digits are accepted as long as they are zeros (the API answers `"1.00000000"`);
    ///   when false (controller input), more digits than the currency has are an error.
    public init(parsing text: String, currency: Currency, allowingTrailingZeros: Bool = false) throws(ParseError) {
        guard !text.isEmpty else { throw .empty }
        if text.hasPrefix("-") { throw .negative(text) }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        var fraction = parts.count == 2 ? parts[1] : ""
        let isDigits: (Substring) -> Bool = { $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard !whole.isEmpty, isDigits(whole), isDigits(fraction),
            parts.count == 1 || !fraction.isEmpty
        else { throw .notADecimal(text) }
        if fraction.count > currency.minorDigits {
            let extra = fraction.dropFirst(currency.minorDigits)
            guard allowingTrailingZeros, extra.allSatisfy({ $0 == "0" }) else {
                throw .tooManyDigits(text, allowed: currency.minorDigits)
            }
            fraction = fraction.prefix(currency.minorDigits)
        }
        let padded = String(fraction) + String(repeating: "0", count: currency.minorDigits - fraction.count)
        guard whole.count <= 15, let major = Int64(whole), let minor = Int64(padded.isEmpty ? "0" : padded) else {
            throw .tooLarge(text)
        }
        var scale: Int64 = 1
        for _ in 0..<currency.minorDigits { scale *= 10 }
        let (product, overflow) = major.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw .tooLarge(text) }
        self.init(minorUnits: product + minor, currency: currency)
    }

    /// The amount in major units with exactly the currency's minor digits: `1.50`, `0.05`, `300`.
    public var decimalString: String {
        let digits = currency.minorDigits
        guard digits > 0 else { return String(minorUnits) }
        let sign = minorUnits < 0 ? "-" : ""
        let magnitude = String(minorUnits.magnitude)
        let padded = String(repeating: "0", count: max(0, digits + 1 - magnitude.count)) + magnitude
        return sign + padded.dropLast(digits) + "." + padded.suffix(digits)
    }

    /// `1.50 USD`
    public var description: String { "\(decimalString) \(currency.code)" }

    public static func < (lhs: Money, rhs: Money) -> Bool {
        precondition(lhs.currency == rhs.currency, "comparing \(lhs.currency) with \(rhs.currency)")
        return lhs.minorUnits < rhs.minorUnits
    }
}
