/// Values: strings, numbers, booleans, arrays and inline tables, each with its line.
extension Parser {
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
                if isForbiddenControl(b) {
                    throw fail("control character 0x\(hex(b)) in a string; write it as an escape")
                }
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
            guard peek == UInt8(ascii: "=") else {
                throw fail("expected '=' after the key '\(key.joined(separator: "."))'")
            }
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
}
