// A small TOML reader of our own: the config checker must point at the exact line of every key
// and value, which general TOML packages do not keep. It covers what kiosk configs use: comments,
// bare/quoted/dotted keys, [table] headers, basic and literal strings, integers, booleans,
// floats (so that a float where an integer belongs gets a clear message), arrays and inline tables.

/// A TOML value together with the line it starts on (1-based).
public struct TOMLNode: Hashable, Sendable {
    public var value: TOMLValue
    /// The line the value starts on.
    public var line: Int
    /// The line of the key that names this value (equals `line` unless the value is a table
    /// opened by a header somewhere else).
    public var keyLine: Int

    public init(value: TOMLValue, line: Int, keyLine: Int? = nil) {
        self.value = value
        self.line = line
        self.keyLine = keyLine ?? line
    }
}

/// A TOML value.
public indirect enum TOMLValue: Hashable, Sendable {
    case string(String)
    case integer(Int)
    /// Kept only so that the config checker can say "expected an integer, got a float".
    case float(Double)
    case boolean(Bool)
    case array([TOMLNode])
    case table(TOMLTable)

    /// A person's word for the type, used in "expected ..., got ..." messages.
    public var typeName: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .boolean: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        }
    }
}

/// A TOML table: keys in the order they were written, each with its node.
public struct TOMLTable: Hashable, Sendable {
    /// How the table came to exist; decides which later definitions are duplicates.
    public enum Origin: Hashable, Sendable {
        /// The document itself.
        case root
        /// Opened by a `[header]`.
        case header
        /// Created as the parent of a deeper `[a.b]` header; may still get its own header later.
        case implicit
        /// Created by a dotted key `a.b = 1`.
        case dotted
        /// Written inline `{ ... }`; closed for additions.
        case inline
    }

    public private(set) var keys: [String] = []
    public private(set) var entries: [String: TOMLNode] = [:]
    public var origin: Origin

    public init(origin: Origin) { self.origin = origin }

    public subscript(key: String) -> TOMLNode? { entries[key] }

    /// Entries in the order they were written.
    public var orderedEntries: [(key: String, node: TOMLNode)] { keys.map { ($0, entries[$0]!) } }

    mutating func set(_ key: String, _ node: TOMLNode) {
        if entries[key] == nil { keys.append(key) }
        entries[key] = node
    }

    /// Moves the sub-table at `key` out (leaving a stand-in until `set` puts it back), so that
    /// it can be changed without copying: a table with thousands of keys stays linear to build.
    mutating func takeTable(_ key: String) -> (table: TOMLTable, line: Int, keyLine: Int)? {
        guard let node = entries[key], case .table(let table) = node.value else { return nil }
        entries[key] = TOMLNode(value: .boolean(false), line: node.line)
        return (table, node.line, node.keyLine)
    }
}

/// A syntax or structure error in a TOML file, at a line.
public struct TOMLError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// Every error found in one TOML text, in line order.
public struct TOMLErrors: Error, Hashable, Sendable, CustomStringConvertible {
    public var errors: [TOMLError]

    public init(_ errors: [TOMLError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Parses TOML text into a root table, or every error found (the parser resumes on the next line
/// after a syntax error so that a technician sees all of them at once).
public enum TOMLParser {
    public static func parse(_ text: String) -> Result<TOMLTable, TOMLErrors> {
        var parser = Parser(bytes: Array(text.utf8))
        parser.parseDocument()
        if parser.errors.isEmpty { return .success(parser.root) }
        return .failure(TOMLErrors(parser.errors))
    }
}

private struct ParseFailure: Error {
    var line: Int
    var message: String
}

private struct Parser {
    let bytes: [UInt8]
    var index = 0
    var line = 1
    var root = TOMLTable(origin: .root)
    /// Path of the table that `key = value` lines currently go into.
    var currentPath: [String] = []
    var errors: [TOMLError] = []

    init(bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte order mark is allowed at the very start.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    // MARK: Bytes

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }
    func peek(at offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }

    mutating func advance() {
        if bytes[index] == UInt8(ascii: "\n") { line += 1 }
        index += 1
    }

    mutating func skipSpaces() {
        while let b = peek, b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") { index += 1 }
    }

    mutating func skipComment() throws(ParseFailure) {
        guard peek == UInt8(ascii: "#") else { return }
        while let b = peek, b != UInt8(ascii: "\n") {
            if b == UInt8(ascii: "\r"), peek(at: 1) == UInt8(ascii: "\n") { index += 1; continue }
            if isForbiddenControl(b) { throw fail("control character 0x\(hex(b)) in a comment") }
            index += 1
        }
    }

    /// Spaces, newlines and comments (inside arrays).
    mutating func skipBlankAndComments() throws(ParseFailure) {
        while let b = peek {
            if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") {
                advance()
            } else if b == UInt8(ascii: "\r"), peek(at: 1) == UInt8(ascii: "\n") {
                index += 1
            } else if b == UInt8(ascii: "#") {
                try skipComment()
            } else {
                return
            }
        }
    }

    /// After a statement: only spaces and a comment may follow before the newline.
    mutating func expectEndOfLine() throws(ParseFailure) {
        skipSpaces()
        try skipComment()
        guard let b = peek else { return }
        if b == UInt8(ascii: "\n") { advance(); return }
        if b == UInt8(ascii: "\r"), peek(at: 1) == UInt8(ascii: "\n") { index += 1; advance(); return }
        throw fail("unexpected \(describe(b)) after the value; put each key on its own line, comments start with #")
    }

    /// Error recovery: drop the rest of the line.
    mutating func skipToNextLine() {
        while let b = peek, b != UInt8(ascii: "\n") { index += 1 }
        if !atEnd { advance() }
    }

    func fail(_ message: String, line: Int? = nil) -> ParseFailure {
        ParseFailure(line: line ?? self.line, message: message)
    }

    // MARK: Document

    mutating func parseDocument() {
        while true {
            do {
                try skipBlankAndComments()
                guard let b = peek else { return }
                if b == UInt8(ascii: "[") {
                    try parseHeader()
                } else {
                    try parseKeyValue(into: currentPath)
                }
                try expectEndOfLine()
            } catch {
                errors.append(TOMLError(line: error.line, message: error.message))
                // Resume on the next line, unless the failure already left us at a line start
                // past the error.
                let atLineStart = index > 0 && bytes[index - 1] == UInt8(ascii: "\n")
                if !(atLineStart && line > error.line) { skipToNextLine() }
            }
        }
    }

    mutating func parseHeader() throws(ParseFailure) {
        let headerLine = line
        index += 1  // [
        if peek == UInt8(ascii: "[") {
            throw fail("arrays of tables ([[...]]) are not supported in kiosk configs")
        }
        skipSpaces()
        let path = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "]") else {
            throw fail("expected ']' to close the table header [\(path.joined(separator: "."))")
        }
        index += 1
        try defineTable(path: path, line: headerLine)
        currentPath = path
    }

    mutating func parseKeyValue(into tablePath: [String]) throws(ParseFailure) {
        let keyLine = line
        let key = try parseKey()
        skipSpaces()
        guard peek == UInt8(ascii: "=") else {
            if atEnd || peek == UInt8(ascii: "\n") || peek == UInt8(ascii: "\r") || peek == UInt8(ascii: "#") {
                throw fail("expected '=' after the key '\(key.joined(separator: "."))'", line: keyLine)
            }
            throw fail("expected '=' after the key '\(key.joined(separator: "."))', found \(describe(peek!))")
        }
        index += 1
        skipSpaces()
        let node = try parseValue()
        try Parser.insert(node, at: tablePath + key, dottedFrom: tablePath.count, keyLine: keyLine, in: &root)
    }

    // MARK: Keys

    /// A possibly dotted key: `a`, `"a b"`, `a.'b'.c`.
    mutating func parseKey() throws(ParseFailure) -> [String] {
        var parts: [String] = []
        while true {
            skipSpaces()
            parts.append(try parseSimpleKey())
            skipSpaces()
            if peek == UInt8(ascii: ".") {
                index += 1
                continue
            }
            return parts
        }
    }

    mutating func parseSimpleKey() throws(ParseFailure) -> String {
        guard let b = peek else { throw fail("expected a key, found the end of the file") }
        if b == UInt8(ascii: "\"") {
            index += 1
            return try parseBasicStringBody()
        }
        if b == UInt8(ascii: "'") {
            index += 1
            return try parseLiteralStringBody()
        }
        let start = index
        while let c = peek, isBareKeyByte(c) { index += 1 }
        guard index > start else {
            throw fail("expected a key (letters, digits, _ and -, or a quoted key), found \(describe(b))")
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    // MARK: Values

    mutating func parseValue() throws(ParseFailure) -> TOMLNode {
        let valueLine = line
        guard let b = peek, b != UInt8(ascii: "\n"), b != UInt8(ascii: "#"),
              !(b == UInt8(ascii: "\r") && peek(at: 1) == UInt8(ascii: "\n"))
        else { throw fail("missing value after '='") }
        switch b {
        case UInt8(ascii: "\""):
            if peek(at: 1) == UInt8(ascii: "\""), peek(at: 2) == UInt8(ascii: "\"") {
                throw fail("multi-line strings (\"\"\") are not supported in kiosk configs")
            }
            index += 1
            return TOMLNode(value: .string(try parseBasicStringBody()), line: valueLine)
        case UInt8(ascii: "'"):
            if peek(at: 1) == UInt8(ascii: "'"), peek(at: 2) == UInt8(ascii: "'") {
                throw fail("multi-line strings (''') are not supported in kiosk configs")
            }
            index += 1
            return TOMLNode(value: .string(try parseLiteralStringBody()), line: valueLine)
        case UInt8(ascii: "["):
            return try parseArray()
        case UInt8(ascii: "{"):
            return try parseInlineTable()
        default:
            return try parseBareValue()
        }
    }

    mutating func parseBasicStringBody() throws(ParseFailure) -> String {
        var out: [UInt8] = []
        while true {
            guard let b = peek, b != UInt8(ascii: "\n") else {
                throw fail("unterminated string: add the closing \" on the same line")
            }
            index += 1
            switch b {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw fail("unterminated string: add the closing \" on the same line") }
                index += 1
                switch e {
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "u"): out.append(contentsOf: try parseUnicodeEscape(digits: 4))
                case UInt8(ascii: "U"): out.append(contentsOf: try parseUnicodeEscape(digits: 8))
                default:
                    throw fail(
                        "invalid escape \\\(describeRaw(e)) in a string; allowed: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX (or use a 'literal string' for Windows paths)"
                    )
                }
            default:
                if isForbiddenControl(b) { throw fail("control character 0x\(hex(b)) in a string; write it as an escape") }
                out.append(b)
            }
        }
    }

    mutating func parseUnicodeEscape(digits: Int) throws(ParseFailure) -> [UInt8] {
        var scalar: UInt32 = 0
        for _ in 0..<digits {
            guard let b = peek, let v = hexValue(b) else {
                throw fail("\\\(digits == 4 ? "u" : "U") must be followed by \(digits) hex digits")
            }
            scalar = scalar * 16 + UInt32(v)
            index += 1
        }
        guard let u = Unicode.Scalar(scalar) else {
            throw fail("\\u escape U+\(String(scalar, radix: 16, uppercase: true)) is not a Unicode scalar value")
        }
        return Array(String(Character(u)).utf8)
    }

    mutating func parseLiteralStringBody() throws(ParseFailure) -> String {
        let start = index
        while true {
            guard let b = peek, b != UInt8(ascii: "\n") else {
                throw fail("unterminated literal string: add the closing ' on the same line")
            }
            if b == UInt8(ascii: "'") {
                let s = String(decoding: bytes[start..<index], as: UTF8.self)
                index += 1
                return s
            }
            if isForbiddenControl(b) { throw fail("control character 0x\(hex(b)) in a string") }
            index += 1
        }
    }

    mutating func parseArray() throws(ParseFailure) -> TOMLNode {
        let arrayLine = line
        index += 1  // [
        var elements: [TOMLNode] = []
        while true {
            try skipBlankAndComments()
            guard let b = peek else { throw fail("unterminated array: add the closing ']'", line: arrayLine) }
            if b == UInt8(ascii: "]") {
                index += 1
                return TOMLNode(value: .array(elements), line: arrayLine)
            }
            elements.append(try parseValue())
            try skipBlankAndComments()
            guard let c = peek else { throw fail("unterminated array: add the closing ']'", line: arrayLine) }
            if c == UInt8(ascii: ",") {
                index += 1
            } else if c != UInt8(ascii: "]") {
                throw fail("expected ',' or ']' in the array, found \(describe(c))")
            }
        }
    }

    mutating func parseInlineTable() throws(ParseFailure) -> TOMLNode {
        let tableLine = line
        index += 1  // {
        // Parse into a scratch document so that dotted keys inside work the same way.
        var scratch = TOMLTable(origin: .inline)
        skipSpaces()
        if peek == UInt8(ascii: "}") {
            index += 1
            return TOMLNode(value: .table(scratch), line: tableLine)
        }
        while true {
            skipSpaces()
            let keyLine = line
            let key = try parseKey()
            skipSpaces()
            guard peek == UInt8(ascii: "=") else { throw fail("expected '=' after the key '\(key.joined(separator: "."))'") }
            index += 1
            skipSpaces()
            let node = try parseValue()
            try Parser.insert(node, at: key, dottedFrom: 0, keyLine: keyLine, in: &scratch)
            skipSpaces()
            guard let c = peek else { throw fail("unterminated inline table: add the closing '}'", line: tableLine) }
            if c == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if c == UInt8(ascii: "}") {
                index += 1
                return TOMLNode(value: .table(scratch), line: tableLine)
            }
            throw fail("expected ',' or '}' in the inline table (it must stay on one line), found \(describe(c))")
        }
    }

    /// Integers, floats, booleans, and a clear refusal of dates and stray words.
    mutating func parseBareValue() throws(ParseFailure) -> TOMLNode {
        let valueLine = line
        let start = index
        while let b = peek, isBareValueByte(b) { index += 1 }
        let word = String(decoding: bytes[start..<index], as: UTF8.self)
        guard !word.isEmpty else { throw fail("expected a value, found \(describe(peek!))") }
        if word == "true" { return TOMLNode(value: .boolean(true), line: valueLine) }
        if word == "false" { return TOMLNode(value: .boolean(false), line: valueLine) }
        if let i = parseInteger(word) { return TOMLNode(value: .integer(i), line: valueLine) }
        if let f = parseFloat(word) { return TOMLNode(value: .float(f), line: valueLine) }
        if isDateLike(word) {
            throw fail("dates and times are not supported in kiosk configs (got \(word))")
        }
        if word.utf8.allSatisfy({ isBareKeyByte($0) }), let first = word.utf8.first, !isDigit(first) {
            throw fail("'\(word)' is not a value; put text in quotes: \"\(word)\"")
        }
        throw fail("'\(word)' is not a valid value (expected a \"string\", an integer, true/false or an [array])")
    }

    // MARK: Structure

    /// Opens the table at `path` for a `[header]`.
    mutating func defineTable(path: [String], line: Int) throws(ParseFailure) {
        try Parser.walk(&root, path: path[...]) { (table: inout TOMLTable, key: String, isLast: Bool) throws(ParseFailure) in
            let name = path.joined(separator: ".")
            if let existing = table[key] {
                guard case .table(var t) = existing.value else {
                    throw ParseFailure(line: line, message: "[\(name)]: '\(key)' already has a value on line \(existing.keyLine); a key cannot also be a table")
                }
                if isLast {
                    switch t.origin {
                    case .implicit:
                        t.origin = .header
                        table.set(key, TOMLNode(value: .table(t), line: line))
                    default:
                        throw ParseFailure(line: line, message: "table [\(name)] is defined twice (first on line \(existing.keyLine)); merge the two sections")
                    }
                } else if t.origin == .inline {
                    throw ParseFailure(line: line, message: "[\(name)]: '\(key)' is an inline table (line \(existing.keyLine)) and cannot be extended")
                }
            } else {
                table.set(key, TOMLNode(value: .table(TOMLTable(origin: isLast ? .header : .implicit)), line: line))
            }
        }
    }

    /// Puts a value at `path`; parts from `dottedFrom` on came from a dotted key and create
    /// dotted tables on the way.
    static func insert(_ node: TOMLNode, at path: [String], dottedFrom: Int, keyLine: Int, in table: inout TOMLTable) throws(ParseFailure) {
        var depth = 0
        let name = path[dottedFrom...].joined(separator: ".")
        try Parser.walk(&table, path: path[...]) { (table: inout TOMLTable, key: String, isLast: Bool) throws(ParseFailure) in
            defer { depth += 1 }
            if isLast {
                if let existing = table[key] {
                    throw ParseFailure(line: keyLine, message: "duplicate key '\(name)' (first set on line \(existing.keyLine)); keep one of them")
                }
                table.set(key, TOMLNode(value: node.value, line: node.line, keyLine: keyLine))
                return
            }
            if let existing = table[key] {
                guard case .table(let t) = existing.value else {
                    throw ParseFailure(line: keyLine, message: "'\(name)': '\(key)' already has a value on line \(existing.keyLine); a key cannot also be a table")
                }
                if depth >= dottedFrom, t.origin != .dotted, t.origin != .implicit {
                    throw ParseFailure(line: keyLine, message: "'\(name)': table '\(key)' is already defined on line \(existing.keyLine); add the key in that section instead")
                }
            } else {
                table.set(key, TOMLNode(value: .table(TOMLTable(origin: depth >= dottedFrom ? .dotted : .implicit)), line: keyLine))
            }
        }
    }

    /// Walks `path` from `table`, calling `visit` with each parent table and key; descends into
    /// the child table afterwards (the visitor makes sure it exists unless it is the last key).
    static func walk(
        _ table: inout TOMLTable, path: ArraySlice<String>,
        visit: (inout TOMLTable, String, Bool) throws(ParseFailure) -> Void
    ) throws(ParseFailure) {
        guard let key = path.first else { return }
        let isLast = path.count == 1
        try visit(&table, key, isLast)
        if isLast { return }
        guard var taken = table.takeTable(key) else { return }
        defer { table.set(key, TOMLNode(value: .table(taken.table), line: taken.line, keyLine: taken.keyLine)) }
        try walk(&taken.table, path: path.dropFirst(), visit: visit)
    }
}

// MARK: Scalars

private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

private func isBareKeyByte(_ b: UInt8) -> Bool {
    isDigit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_")
        || b == UInt8(ascii: "-")
}

private func isBareValueByte(_ b: UInt8) -> Bool {
    isBareKeyByte(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: ".") || b == UInt8(ascii: ":")
}

private func isForbiddenControl(_ b: UInt8) -> Bool {
    (b < 0x20 && b != 0x09) || b == 0x7F
}

private func hexValue(_ b: UInt8) -> UInt8? {
    switch b {
    case 0x30...0x39: return b - 0x30
    case 0x41...0x46: return b - 0x41 + 10
    case 0x61...0x66: return b - 0x61 + 10
    default: return nil
    }
}

private func hex(_ b: UInt8) -> String {
    let s = String(b, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
}

private func describeRaw(_ b: UInt8) -> String {
    b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "0x\(hex(b))"
}

private func describe(_ b: UInt8) -> String {
    b >= 0x21 && b < 0x7F ? "'\(String(UnicodeScalar(b)))'" : "character 0x\(hex(b))"
}

/// Digits with single underscores between them.
private func digitsWithUnderscores(_ s: Substring, isDigit: (UInt8) -> Bool) -> String? {
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

private func parseInteger(_ word: String) -> Int? {
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

private func parseFloat(_ word: String) -> Double? {
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

private func isDateLike(_ word: String) -> Bool {
    let u = Array(word.utf8)
    guard u.count >= 5 else { return false }
    // 1979-05-27 or 07:32:00
    return (u.count >= 10 && isDigit(u[0]) && isDigit(u[3]) && u[4] == UInt8(ascii: "-"))
        || (isDigit(u[0]) && isDigit(u[1]) && u[2] == UInt8(ascii: ":"))
}
