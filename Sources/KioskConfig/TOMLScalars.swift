// MARK: Scalars

func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

func isBareKeyByte(_ b: UInt8) -> Bool {
    isDigit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_")
        || b == UInt8(ascii: "-")
}

func isBareValueByte(_ b: UInt8) -> Bool {
    isBareKeyByte(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
}

func isForbiddenControl(_ b: UInt8) -> Bool {
    (b < 0x20 && b != 0x09) || b == 0x7F
}

func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: return b - 0x30
    case 0x41...0x46: return b - 0x41 + 10
    case 0x61...0x66: return b - 0x61 + 10
    default: return nil
    }
}

func hex(_ b: UInt8) -> String {
    let s = String(b, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
}

func describeRaw(_ b: UInt8) -> String {
    b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "0x\(hex(b))"
}

func describe(_ b: UInt8) -> String {
    b >= 0x21 && b < 0x7F ? "'\(String(UnicodeScalar(b)))'" : "character 0x\(hex(b))"
}

/// Digits with single underscores between them.
func digitsWithUnderscores(_ s: Substring, isDigit: (UInt8) -> Bool) -> String? {
    guard let first = s.utf8.first, let last = s.utf8.last, isDigit(first), isDigit(last) else { return nil }
    var out = ""
    var previousUnderscore = false
    for b in s.utf8 {
        if b == UInt8(ascii: "_") {
            if previousUnderscore { return nil }
            previousUnderscore = true
        } else {
            guard isDigit(b) else { return nil }
            previousUnderscore = false
            out.append(Character(UnicodeScalar(b)))
        }
    }
    return out
}

func parseInteger(_ word: String) -> Int? {
    var s = Substring(word)
    for (prefix, radix, test) in [
        ("0x", 16, { (b: UInt8) in hexValue(b) != nil }), ("0o", 8, { (b: UInt8) in b >= 0x30 && b <= 0x37 }),
        ("0b", 2, { (b: UInt8) in b == 0x30 || b == 0x31 }),
    ] as [(String, Int, (UInt8) -> Bool)] where s.hasPrefix(prefix) {
        guard let digits = digitsWithUnderscores(s.dropFirst(2), isDigit: test) else { return nil }
        return Int(digits, radix: radix)
    }
    var negative = false
    if s.first == "+" || s.first == "-" {
        negative = s.first == "-"
        s = s.dropFirst()
    }
    guard let digits = digitsWithUnderscores(s, isDigit: isDigit) else { return nil }
    if digits.count > 1, digits.hasPrefix("0") { return nil }  // no leading zeros
    return Int((negative ? "-" : "") + digits)
}

func parseFloat(_ word: String) -> Double? {
    var s = Substring(word)
    var sign = ""
    if s.first == "+" || s.first == "-" {
        sign = s.first == "-" ? "-" : ""
        s = s.dropFirst()
    }
    if s == "inf" { return sign == "-" ? -.infinity : .infinity }
    if s == "nan" { return .nan }
    // whole [. fraction] [e exponent], with at least a fraction or an exponent.
    let lower = s.lowercased()
    let mantissaAndExponent = lower.split(separator: "e", maxSplits: 1, omittingEmptySubsequences: false)
    let mantissa = mantissaAndExponent[0]
    let parts = mantissa.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    guard let whole = digitsWithUnderscores(parts[0], isDigit: isDigit) else { return nil }
    var text = sign + whole
    if parts.count == 2 {
        guard let fraction = digitsWithUnderscores(parts[1], isDigit: isDigit) else { return nil }
        text += "." + fraction
    }
    if mantissaAndExponent.count == 2 {
        var exponent = mantissaAndExponent[1]
        var expSign = ""
        if exponent.first == "+" || exponent.first == "-" {
            expSign = exponent.first == "-" ? "-" : ""
            exponent = exponent.dropFirst()
        }
        guard let e = digitsWithUnderscores(exponent, isDigit: isDigit) else { return nil }
        text += "e" + expSign + e
    }
    guard parts.count == 2 || mantissaAndExponent.count == 2 else { return nil }
    return Double(text)
}

func isDateLike(_ word: String) -> Bool {
    let u = Array(word.utf8)
    guard u.count >= 5 else { return false }
    // 1979-05-27 or 07:32:00
    return (u.count >= 10 && isDigit(u[0]) && isDigit(u[3]) && u[4] == UInt8(ascii: "-"))
        || (isDigit(u[0]) && isDigit(u[1]) && u[2] == UInt8(ascii: ":"))
}
