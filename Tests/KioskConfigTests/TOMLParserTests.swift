import Testing

@testable import KioskConfig

/// Parses text that must be valid, failing the test with the parser's errors otherwise.
private func parseValid(_ text: String) throws -> TOMLTable {
    switch TOMLParser.parse(text) {
    case .success(let root): return root
    case .failure(let errors):
        Issue.record("unexpected errors: \(errors)")
        throw errors
    }
}

/// The errors for text that must be invalid.
private func parseErrors(_ text: String) -> [TOMLError] {
    switch TOMLParser.parse(text) {
    case .success: return []
    case .failure(let errors): return errors.errors
    }
}

private func table(_ node: TOMLNode?) -> TOMLTable? {
    guard let node, case .table(let t) = node.value else { return nil }
    return t
}

@Suite("TOML parser")
struct TOMLParserTests {
    @Test func readsScalarsWithTheLineOfEachKey() throws {
        let root = try parseValid(
            """
            # a comment line
            name = "VVM-005"   # trailing comment

            count = 1_000
            hex = 0xFF
            negative = -42
            on = true
            off = false
            ratio = 1.5
            """)
        #expect(root["name"] == TOMLNode(value: .string("VVM-005"), line: 2))
        #expect(root["count"] == TOMLNode(value: .integer(1000), line: 4))
        #expect(root["hex"]?.value == .integer(255))
        #expect(root["negative"]?.value == .integer(-42))
        #expect(root["on"]?.value == .boolean(true))
        #expect(root["off"]?.value == .boolean(false))
        #expect(root["ratio"]?.value == .float(1.5))
        #expect(root["ratio"]?.line == 9)
    }

    @Test func decodesEscapesInBasicStringsAndKeepsLiteralStringsRaw() throws {
        let root = try parseValid(
            #"""
            basic = "tab\there \"quoted\" back\\slash \u00E9 \U0001F600"
            literal = 'C:\path\{reference}'
            """#)
        #expect(root["basic"]?.value == .string("tab\there \"quoted\" back\\slash é 😀"))
        #expect(root["literal"]?.value == .string(#"C:\path\{reference}"#))
    }

    @Test func tableHeadersAndDottedKeysNestWithTheirLines() throws {
        let root = try parseValid(
            """
            [api]
            base_url = "https://x"

            [vend.items]
            "5" = "Soda"
            'A-1' = "Chips"

            [serial]
            line.speed = 9600
            """)
        let api = try #require(table(root["api"]))
        #expect(api["base_url"]?.line == 2)
        #expect(root["api"]?.keyLine == 1)
        let vend = try #require(table(root["vend"]))
        let items = try #require(table(vend["items"]))
        #expect(vend["items"]?.keyLine == 4)
        #expect(items.orderedEntries.map(\.key) == ["5", "A-1"])
        #expect(items["A-1"] == TOMLNode(value: .string("Chips"), line: 6))
        let serial = try #require(table(root["serial"]))
        let line = try #require(table(serial["line"]))
        #expect(line["speed"] == TOMLNode(value: .integer(9600), line: 9))
    }

    @Test func aParentTableMayGetItsHeaderAfterAChildTable() throws {
        let root = try parseValid(
            """
            [vend.items]
            "5" = "Soda"
            [vend]
            payment_timeout_s = 90
            """)
        let vend = try #require(table(root["vend"]))
        #expect(vend["payment_timeout_s"]?.value == .integer(90))
        #expect(table(vend["items"])?["5"]?.value == .string("Soda"))
    }

    @Test func arraysMaySpanLinesWithCommentsAndATrailingComma() throws {
        let root = try parseValid(
            """
            bauds = [
              9600,   # slow
              "x",
              115200,
            ]
            after = 1
            """)
        guard case .array(let elements) = root["bauds"]?.value else {
            Issue.record("not an array")
            return
        }
        #expect(elements.map(\.value) == [.integer(9600), .string("x"), .integer(115_200)])
        #expect(elements.map(\.line) == [2, 3, 4])
        #expect(root["after"]?.line == 6)
    }

    @Test func inlineTablesBecomeTables() throws {
        let root = try parseValid(#"serial = { device = "/dev/ttyUSB0", baud = 9600 }"#)
        let serial = try #require(table(root["serial"]))
        #expect(serial["device"]?.value == .string("/dev/ttyUSB0"))
        #expect(serial["baud"]?.value == .integer(9600))
    }

    @Test func crlfLineEndingsAreAccepted() throws {
        let root = try parseValid("a = 1\r\n[t]\r\nb = \"x\" # c\r\n")
        #expect(table(root["t"])?["b"] == TOMLNode(value: .string("x"), line: 3))
    }

    @Test func unterminatedStringIsReportedAtItsLine() {
        let errors = parseErrors("a = 1\nname = \"VVM-005\nb = 2\n")
        #expect(errors == [TOMLError(line: 2, message: "unterminated string: add the closing \" on the same line")])
    }

    @Test func invalidEscapeSuggestsALiteralString() {
        let errors = parseErrors(#"path = "C:\data""#)
        #expect(errors.map(\.line) == [1])
        #expect(errors.first?.message.hasPrefix(#"invalid escape \d in a string"#) == true)
        #expect(errors.first?.message.contains("'literal string'") == true)
    }

    @Test func duplicateKeyNamesTheFirstLine() {
        let errors = parseErrors("[api]\nbase_url = \"a\"\n\nbase_url = \"b\"\n")
        #expect(
            errors == [TOMLError(line: 4, message: "duplicate key 'base_url' (first set on line 2); keep one of them")])
    }

    @Test func duplicateTableNamesTheFirstHeader() {
        let errors = parseErrors("[qr]\npayload = \"x\"\n[journal]\n[qr]\n")
        #expect(
            errors == [
                TOMLError(line: 4, message: "table [qr] is defined twice (first on line 1); merge the two sections")
            ])
    }

    @Test func dottedKeyDuplicatingAHeaderKeyIsRejected() {
        let errors = parseErrors("vend.payment_timeout_s = 1\n[vend]\npayment_timeout_s = 2\n")
        #expect(errors.map(\.line) == [2])
    }

    @Test func everyBrokenLineIsReportedNotOnlyTheFirst() {
        let errors = parseErrors("a = \nb = 1\nc = 'x\nd = 2 3\n")
        #expect(errors.map(\.line) == [1, 3, 4])
        #expect(errors[0].message == "missing value after '='")
        #expect(errors[2].message.hasPrefix("unexpected '3' after the value"))
    }

    @Test func bareWordValueAsksForQuotes() {
        let errors = parseErrors("output = png\n")
        #expect(errors == [TOMLError(line: 1, message: "'png' is not a value; put text in quotes: \"png\"")])
    }

    @Test func integerWithLeadingZeroOrDoubleUnderscoreIsRejected() {
        #expect(parseErrors("a = 0123").map(\.line) == [1])
        #expect(parseErrors("a = 1__0").map(\.line) == [1])
    }

    @Test func keyWithoutValueIsRejected() {
        #expect(
            parseErrors("[api]\nbase_url\n") == [TOMLError(line: 2, message: "expected '=' after the key 'base_url'")])
    }

    @Test func unterminatedArrayIsReportedAtItsOpeningLine() {
        let errors = parseErrors("x = [1,\n 2,\n")
        #expect(errors.first == TOMLError(line: 1, message: "unterminated array: add the closing ']'"))
    }

    @Test func unclosedHeaderIsRejected() {
        #expect(
            parseErrors("[api\nx = 1\n") == [TOMLError(line: 1, message: "expected ']' to close the table header [api")]
        )
    }

    @Test func arraysOfTablesAndDatesAreRefusedClearly() {
        #expect(
            parseErrors("[[items]]\n").first?.message == "arrays of tables ([[...]]) are not supported in kiosk configs"
        )
        #expect(
            parseErrors("d = 1979-05-27\n").first?.message
                == "dates and times are not supported in kiosk configs (got 1979-05-27)")
    }

    @Test func valueThenTableKeyConflictIsRejected() {
        let errors = parseErrors("api = 1\n[api]\n")
        #expect(
            errors == [
                TOMLError(line: 2, message: "[api]: 'api' already has a value on line 1; a key cannot also be a table")
            ])
    }
}
