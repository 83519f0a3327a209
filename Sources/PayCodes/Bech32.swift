/// Bech32 (BIP-173) as BOLT11 uses it: the original checksum constant (not bech32m) and no
/// 90-character length limit, since a Lightning invoice is usually longer.
///
/// Pure functions over strings and 5-bit words, so a fuzz harness can drive them directly.
public enum Bech32 {
    /// The data alphabet: word value -> character.
    public static let alphabet: [UInt8] = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)

    /// Character (lower-case ASCII) -> word value, -1 for characters outside the alphabet.
    private static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, char) in alphabet.enumerated() { table[Int(char)] = Int8(value) }
        return table
    }()

    /// Why a string is not bech32.
    public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
        case empty
        case mixedCase
        case invalidCharacter(Character, position: Int)
        case noSeparator
        case emptyHumanReadablePart
        case tooShortForChecksum
        case badChecksum

        public var description: String {
            switch self {
            case .empty: return "the text is empty"
            case .mixedCase: return "the text mixes upper and lower case, which bech32 forbids"
            case .invalidCharacter(let c, let position):
                return "character '\(c)' at position \(position) is not in the bech32 alphabet"
            case .noSeparator: return "there is no '1' separating the human-readable part from the data"
            case .emptyHumanReadablePart: return "the human-readable part before the '1' is empty"
            case .tooShortForChecksum: return "the data part is shorter than the 6-character checksum"
            case .badChecksum: return "the bech32 checksum does not match (a character is wrong or missing)"
            }
        }
    }

    private static func polymod(_ values: some Sequence<UInt8>, into start: UInt32 = 1) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var chk = start
        for v in values {
            let top = chk >> 25
            chk = (chk & 0x1ff_ffff) << 5 ^ UInt32(v)
            for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 { chk ^= generator[i] }
        }
        return chk
    }

    private static func expandedHRP(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    /// Splits `text` into its human-readable part (lower-cased) and data words (checksum removed),
    /// verifying the checksum. Upper-case input is accepted (QR alphanumeric mode), mixed case is not.
    public static func decode(_ text: String) throws(DecodeError) -> (hrp: String, words: [UInt8]) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .empty }
        var hasLower = false
        var hasUpper = false
        var lowered = [UInt8]()
        lowered.reserveCapacity(bytes.count)
        for (i, b) in bytes.enumerated() {
            guard b >= 33, b <= 126 else {
                throw .invalidCharacter(Character(Unicode.Scalar(b)), position: i)
            }
            if b >= 97, b <= 122 { hasLower = true }
            if b >= 65, b <= 90 { hasUpper = true }
            lowered.append(b >= 65 && b <= 90 ? b + 32 : b)
        }
        guard !(hasLower && hasUpper) else { throw .mixedCase }
        guard let sep = lowered.lastIndex(of: UInt8(ascii: "1")) else { throw .noSeparator }
        guard sep > 0 else { throw .emptyHumanReadablePart }
        guard lowered.count - sep - 1 >= 6 else { throw .tooShortForChecksum }
        let hrp = Array(lowered[..<sep])
        var words = [UInt8]()
        words.reserveCapacity(lowered.count - sep - 1)
        for i in (sep + 1)..<lowered.count {
            let c = lowered[i]
            let v = c < 128 ? reverse[Int(c)] : -1
            guard v >= 0 else { throw .invalidCharacter(Character(Unicode.Scalar(bytes[i])), position: i) }
            words.append(UInt8(v))
        }
        guard polymod(words, into: polymod(expandedHRP(hrp))) == 1 else { throw .badChecksum }
        return (String(decoding: hrp, as: UTF8.self), Array(words.dropLast(6)))
    }

    /// `hrp` + `1` + the words + their checksum, lower case. `hrp` must be lower-case ASCII.
    public static func encode(hrp: String, words: [UInt8]) -> String {
        let h = Array(hrp.utf8)
        let mod = polymod([0, 0, 0, 0, 0, 0], into: polymod(words, into: polymod(expandedHRP(h)))) ^ 1
        var out = h + [UInt8(ascii: "1")]
        out.reserveCapacity(h.count + 1 + words.count + 6)
        for w in words { out.append(alphabet[Int(w & 31)]) }
        for i in 0..<6 { out.append(alphabet[Int((mod >> UInt32(5 * (5 - i))) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// 5-bit words -> bytes, dropping the incomplete trailing bits (as BOLT11 does for hashes).
    public static func bytes(fromWords words: some Collection<UInt8>) -> [UInt8] {
        var acc: UInt32 = 0
        var bits = 0
        var out = [UInt8]()
        out.reserveCapacity(words.count * 5 / 8)
        for w in words {
            acc = (acc << 5) | UInt32(w & 31)
            bits += 5
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((acc >> UInt32(bits)) & 0xff))
            }
        }
        return out
    }

    /// Bytes -> 5-bit words, zero-padding the last word.
    public static func words(fromBytes bytes: some Collection<UInt8>) -> [UInt8] {
        var acc: UInt32 = 0
        var bits = 0
        var out = [UInt8]()
        out.reserveCapacity((bytes.count * 8 + 4) / 5)
        for b in bytes {
            acc = (acc << 8) | UInt32(b)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(UInt8((acc >> UInt32(bits)) & 31))
            }
            acc &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 { out.append(UInt8((acc << UInt32(5 - bits)) & 31)) }
        return out
    }

    /// Big-endian unsigned integer from words (at most 12 words fit in 60 bits).
    public static func integer(fromWords words: some Collection<UInt8>) -> UInt64 {
        words.reduce(UInt64(0)) { ($0 << 5) | UInt64($1 & 31) }
    }

    /// `value` as exactly `count` big-endian words.
    public static func words(fromInteger value: UInt64, count: Int) -> [UInt8] {
        (0..<count).map { i in UInt8((value >> UInt64(5 * (count - 1 - i))) & 31) }
    }

    /// `value` in as few words as hold it (at least one).
    public static func minimalWords(fromInteger value: UInt64) -> [UInt8] {
        var count = 1
        while count < 13, value >> UInt64(5 * count) != 0 { count += 1 }
        return words(fromInteger: value, count: count)
    }
}
