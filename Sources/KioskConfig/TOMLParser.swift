// The TOML parser (see TOML.swift): bytes, document lines, keys and the table structure; values
// in TOMLValueParsing.swift, number and byte classes in TOMLScalars.swift.

struct ParseFailure: Error {
    var line: Int
    var message: String
}

struct Parser {
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

    // MARK: Structure

    /// Opens the table at `path` for a `[header]`.
    mutating func defineTable(path: [String], line: Int) throws(ParseFailure) {
        try Parser.walk(&root, path: path[...]) {
            (table: inout TOMLTable, key: String, isLast: Bool) throws(ParseFailure) in
            let name = path.joined(separator: ".")
            if let existing = table[key] {
                guard case .table(var t) = existing.value else {
                    throw ParseFailure(
                        line: line,
                        message:
                            "[\(name)]: '\(key)' already has a value on line \(existing.keyLine); a key cannot also be a table"
                    )
                }
                if isLast {
                    switch t.origin {
                    case .implicit:
                        t.origin = .header
                        table.set(key, TOMLNode(value: .table(t), line: line))
                    default:
                        throw ParseFailure(
                            line: line,
                            message:
                                "table [\(name)] is defined twice (first on line \(existing.keyLine)); merge the two sections"
                        )
                    }
                } else if t.origin == .inline {
                    throw ParseFailure(
                        line: line,
                        message:
                            "[\(name)]: '\(key)' is an inline table (line \(existing.keyLine)) and cannot be extended")
                }
            } else {
                table.set(key, TOMLNode(value: .table(TOMLTable(origin: isLast ? .header : .implicit)), line: line))
            }
        }
    }

    /// Puts a value at `path`; parts from `dottedFrom` on came from a dotted key and create
    /// dotted tables on the way.
    static func insert(
        _ node: TOMLNode, at path: [String], dottedFrom: Int, keyLine: Int, in table: inout TOMLTable
    ) throws(ParseFailure) {
        var depth = 0
        let name = path[dottedFrom...].joined(separator: ".")
        try Parser.walk(&table, path: path[...]) {
            (table: inout TOMLTable, key: String, isLast: Bool) throws(ParseFailure) in
            defer { depth += 1 }
            if isLast {
                if let existing = table[key] {
                    throw ParseFailure(
                        line: keyLine,
                        message: "duplicate key '\(name)' (first set on line \(existing.keyLine)); keep one of them")
                }
                table.set(key, TOMLNode(value: node.value, line: node.line, keyLine: keyLine))
                return
            }
            if let existing = table[key] {
                guard case .table(let t) = existing.value else {
                    throw ParseFailure(
                        line: keyLine,
                        message:
                            "'\(name)': '\(key)' already has a value on line \(existing.keyLine); a key cannot also be a table"
                    )
                }
                if depth >= dottedFrom, t.origin != .dotted, t.origin != .implicit {
                    throw ParseFailure(
                        line: keyLine,
                        message:
                            "'\(name)': table '\(key)' is already defined on line \(existing.keyLine); add the key in that section instead"
                    )
                }
            } else {
                table.set(
                    key,
                    TOMLNode(value: .table(TOMLTable(origin: depth >= dottedFrom ? .dotted : .implicit)), line: keyLine)
                )
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
