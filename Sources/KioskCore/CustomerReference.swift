/// The short reference a customer quotes after a failed vend ("K7M-4QX"), derived from the
/// session's trade_no so the screen, the journal and `journal refunds` agree without storing it.
///
/// Six symbols of Crockford's base-32 alphabet (digits and upper-case letters without I, L, O
/// and U, so nothing reads as another symbol aloud or on a small screen), split 3-3. 30 bits: two
/// sessions of one machine share a reference about once in a billion pairs, and the operator
/// finds both in `journal refunds` if they ever do.
public struct CustomerReference: Hashable, Sendable, CustomStringConvertible {
    /// `K7M-4QX`.
    public let text: String

    /// The reference of the session with `tradeNo`; the same trade_no gives the same reference on
    /// every machine and in every version (FNV-1a over its UTF-8, a stable, documented hash).
    public init(_ tradeNo: TradeNo) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in tradeNo.rawValue.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        // Fold the upper half in so every input byte reaches the 30 bits kept.
        let folded = (hash ^ (hash >> 32)) & 0x3FFF_FFFF
        var symbols: [Character] = []
        for index in 0..<6 {
            let value = Int((folded >> UInt64(25 - 5 * index)) & 0x1F)
            symbols.append(CustomerReference.alphabet[value])
        }
        text = String(symbols[0..<3]) + "-" + String(symbols[3..<6])
    }

    /// A reference as a person typed or read it out, in canonical form: case and separators
    /// ignored, O read as 0 and I or L as 1 (Crockford's decoding rules); nil when it is not six
    /// symbols of the alphabet.
    public init?(typed: String) {
        var symbols: [Character] = []
        for character in typed.uppercased() {
            switch character {
            case "-", " ", "\u{00A0}": continue
            case "O": symbols.append("0")
            case "I", "L": symbols.append("1")
            default:
                guard CustomerReference.alphabet.contains(character) else { return nil }
                symbols.append(character)
            }
        }
        guard symbols.count == 6 else { return nil }
        text = String(symbols[0..<3]) + "-" + String(symbols[3..<6])
    }

    public var description: String { text }

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
}

extension TradeNo {
    /// The reference the customer is shown and quotes to the operator (`CustomerReference`).
    public var customerReference: CustomerReference { CustomerReference(self) }
}
