/// A BOLT11 Lightning invoice, decoded only as far as the kiosk needs it: the network prefix,
/// the amount, the creation time, the expiry and the payment hash. The signature is carried, not
/// verified (the wallet does that; the kiosk only needs to know when the code stops being payable).
///
/// `decode` is a pure function over the text, so a fuzz harness can call it directly.
public struct Bolt11Invoice: Hashable, Sendable {
    /// `bc`, `tb`, `bcrt`, `tbs`, ... (the human-readable part between `ln` and the amount).
    public let network: String
    /// The amount in millisatoshis; nil for an invoice without an amount ("any amount").
    public let amountMsat: UInt64?
    /// Seconds since 1970 when the invoice was created.
    public let timestamp: UInt64
    /// Seconds after `timestamp` the invoice stays payable (the `x` field; 3600 when absent).
    public let expirySeconds: UInt64
    /// The 32-byte payment hash (the `p` field), lower-case hex.
    public let paymentHash: String
    /// The `d` field, when present.
    public let description: String?

    /// When the invoice stops being payable, in seconds since 1970.
    public var expiresAt: UInt64 { timestamp &+ expirySeconds }

    /// The default expiry BOLT11 gives an invoice without an `x` field.
    public static let defaultExpirySeconds: UInt64 = 3600

    /// Why a text is not a usable BOLT11 invoice.
    public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
        case bech32(Bech32.DecodeError)
        case notLightning(prefix: String)
        case badAmount(String)
        case tooShort(words: Int)
        case fieldOverrun(tag: Character)
        case missingPaymentHash

        public var description: String {
            switch self {
            case .bech32(let e): return "not a BOLT11 invoice: \(e)"
            case .notLightning(let prefix):
                return "not a BOLT11 invoice: its prefix '\(prefix)' does not start with 'ln'"
            case .badAmount(let text): return "not a BOLT11 invoice: the amount '\(text)' is malformed"
            case .tooShort(let words):
                return "not a BOLT11 invoice: \(words) data characters cannot hold a timestamp and a signature"
            case .fieldOverrun(let tag):
                return "not a BOLT11 invoice: field '\(tag)' runs past the signature"
            case .missingPaymentHash: return "not a BOLT11 invoice: it has no 52-character payment hash (p field)"
            }
        }
    }

    /// Field tags (the word value of each BOLT11 tag letter).
    enum Tag {
        static let paymentHash: UInt8 = 1  // p
        static let paymentSecret: UInt8 = 16  // s
        static let description: UInt8 = 13  // d
        static let expiry: UInt8 = 6  // x
        static let minFinalCLTV: UInt8 = 24  // c
    }

    /// Words in a signature (65 bytes: 64 plus the recovery id).
    static let signatureWords = 104

    /// Decodes `text`: a bare invoice or one behind `lightning:` (any case).
    public static func decode(_ text: String) throws(DecodeError) -> Bolt11Invoice {
        let bare = LightningText.stripScheme(text)
        let (hrp, words): (String, [UInt8])
        do {
            (hrp, words) = try Bech32.decode(String(bare))
        } catch {
            throw .bech32(error)
        }
        guard hrp.hasPrefix("ln") else { throw .notLightning(prefix: hrp) }
        let (network, amount) = try parseHRP(String(hrp.dropFirst(2)))
        guard words.count >= 7 + signatureWords else { throw .tooShort(words: words.count) }
        let timestamp = Bech32.integer(fromWords: words[0..<7])
        let fieldsEnd = words.count - signatureWords
        var i = 7
        var expiry = defaultExpirySeconds
        var hash: String?
        var description: String?
        while i < fieldsEnd {
            guard i + 3 <= fieldsEnd else { throw .fieldOverrun(tag: tagLetter(words[i])) }
            let tag = words[i]
            let length = Int(words[i + 1]) << 5 | Int(words[i + 2])
            let start = i + 3
            guard start + length <= fieldsEnd else { throw .fieldOverrun(tag: tagLetter(tag)) }
            let field = words[start..<(start + length)]
            switch tag {
            case Tag.paymentHash:
                // BOLT11: a reader skips a p field of the wrong length (and then fails if none fits).
                if length == 52, hash == nil { hash = hex(Bech32.bytes(fromWords: field)) }
            case Tag.expiry where length <= 12:
                expiry = Bech32.integer(fromWords: field)
            case Tag.description:
                description = String(decoding: Bech32.bytes(fromWords: field), as: UTF8.self)
            default:
                break
            }
            i = start + length
        }
        guard let hash else { throw .missingPaymentHash }
        return Bolt11Invoice(
            network: network, amountMsat: amount, timestamp: timestamp, expirySeconds: expiry, paymentHash: hash,
            description: description)
    }

    /// `bc2500u` -> ("bc", 250_000_000 msat). The network is the leading letters, the amount the rest.
    static func parseHRP(_ rest: String) throws(DecodeError) -> (String, UInt64?) {
        let chars = Array(rest.utf8)
        var n = 0
        while n < chars.count, !(chars[n] >= 48 && chars[n] <= 57) { n += 1 }
        let network = String(decoding: chars[..<n], as: UTF8.self)
        guard n < chars.count else { return (network, nil) }
        var digits = Array(chars[n...])
        var multiplier: UInt8?
        if let last = digits.last, !(last >= 48 && last <= 57) {
            multiplier = last
            digits.removeLast()
        }
        let amountText = String(decoding: chars[n...], as: UTF8.self)
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }),
            !(digits.count > 1 && digits[0] == 48), digits.count <= 19,
            let value = UInt64(String(decoding: digits, as: UTF8.self))
        else { throw .badAmount(amountText) }
        // 1 BTC = 10^11 msat.
        let (msat, overflow): (UInt64, Bool)
        switch multiplier {
        case nil: (msat, overflow) = value.multipliedReportingOverflow(by: 100_000_000_000)
        case UInt8(ascii: "m"): (msat, overflow) = value.multipliedReportingOverflow(by: 100_000_000)
        case UInt8(ascii: "u"): (msat, overflow) = value.multipliedReportingOverflow(by: 100_000)
        case UInt8(ascii: "n"): (msat, overflow) = value.multipliedReportingOverflow(by: 100)
        case UInt8(ascii: "p"):
            // A pico-bitcoin amount must be a whole number of millisatoshis.
            guard value % 10 == 0 else { throw .badAmount(amountText) }
            (msat, overflow) = (value / 10, false)
        default: throw .badAmount(amountText)
        }
        guard !overflow else { throw .badAmount(amountText) }
        return (network, msat)
    }

    /// The shortest human-readable amount for `msat` (`2500u`, `15340n`, `1p` ...).
    static func amountText(msat: UInt64) -> String {
        if msat % 100_000_000_000 == 0 { return "\(msat / 100_000_000_000)" }
        if msat % 100_000_000 == 0 { return "\(msat / 100_000_000)m" }
        if msat % 100_000 == 0 { return "\(msat / 100_000)u" }
        if msat % 100 == 0 { return "\(msat / 100)n" }
        return "\(msat * 10)p"
    }

    static func tagLetter(_ word: UInt8) -> Character {
        Character(Unicode.Scalar(Bech32.alphabet[Int(word & 31)]))
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Builds an invoice text: used by the sandbox to issue Strike-like quotes and by tests. The
    /// `signature` (65 bytes) is written as given; nothing here signs.
    public static func encode(
        network: String, amountMsat: UInt64?, timestamp: UInt64, paymentHash: [UInt8], paymentSecret: [UInt8],
        description: String, expirySeconds: UInt64?, minFinalCLTV: UInt64 = 18, signature: [UInt8]
    ) -> String {
        precondition(paymentHash.count == 32 && paymentSecret.count == 32 && signature.count == 65)
        var words = Bech32.words(fromInteger: timestamp, count: 7)
        func field(_ tag: UInt8, _ data: [UInt8]) {
            words += [tag, UInt8(data.count >> 5), UInt8(data.count & 31)] + data
        }
        field(Tag.paymentHash, Bech32.words(fromBytes: paymentHash))
        field(Tag.paymentSecret, Bech32.words(fromBytes: paymentSecret))
        field(Tag.description, Bech32.words(fromBytes: Array(description.utf8)))
        if let expirySeconds { field(Tag.expiry, Bech32.minimalWords(fromInteger: expirySeconds)) }
        field(Tag.minFinalCLTV, Bech32.minimalWords(fromInteger: minFinalCLTV))
        words += Bech32.words(fromBytes: signature)
        let hrp = "ln" + network + (amountMsat.map(amountText(msat:)) ?? "")
        return Bech32.encode(hrp: hrp, words: words)
    }
}

/// What kind of text a QR holds, and how it may be redrawn.
public enum LightningText {
    /// `text` without a leading `lightning:` (any case).
    public static func stripScheme(_ text: String) -> Substring {
        let scheme = "lightning:"
        if text.utf8.count >= scheme.utf8.count,
            String(text.prefix(scheme.count)).lowercased() == scheme
        {
            return text.dropFirst(scheme.count)
        }
        return Substring(text)
    }

    /// Whether `text` is a Lightning request: `lightning:` followed by a bech32 string, or a bare
    /// `lnbc…`/`lntb…`/`lnbcrt…` bech32 string, in one case throughout. Only these may be
    /// upper-cased (bech32 is case-insensitive); anything else, such as a URL, keeps its case.
    public static func isLightningRequest(_ text: String) -> Bool {
        let bare = stripScheme(text)
        let lowered = bare.lowercased()
        guard lowered.hasPrefix("lnbc") || lowered.hasPrefix("lntb") else { return false }
        guard let sep = lowered.utf8.lastIndex(of: UInt8(ascii: "1")) else { return false }
        let data = lowered.utf8[lowered.utf8.index(after: sep)...]
        guard data.count >= 6 else { return false }
        let hrp = lowered.utf8[..<sep]
        let isAlnum: (UInt8) -> Bool = { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }
        guard hrp.allSatisfy(isAlnum) else { return false }
        guard data.allSatisfy({ Bech32.alphabet.contains($0) }) else { return false }
        let hasLower = bare.utf8.contains { $0 >= 97 && $0 <= 122 }
        let hasUpper = bare.utf8.contains { $0 >= 65 && $0 <= 90 }
        return !(hasLower && hasUpper)
    }

    /// The text to draw: a Lightning request upper-cased (so the QR can use alphanumeric mode),
    /// anything else unchanged.
    public static func forDrawing(_ text: String) -> String {
        isLightningRequest(text) ? text.uppercased() : text
    }
}
