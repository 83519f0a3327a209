import Foundation
import Testing

/// Issue 24 item 4: whether an invoice may exist after a failed create (and every other
/// decision) is made on typed failures, never on what an error's text says. This reads every
/// Swift file under Sources/ and fails on a text test of an error's words.
@Suite("No decision on error text in Sources")
struct NoTextDecisionsTests {
    /// `.contains(`, `.hasPrefix(`, … applied to an error's description, detail, message or reason,
    /// to `String(describing:)` of something, or to an interpolated error.
    static var textDecision: Regex<AnyRegexOutput> {
        try! Regex(
            #"(\.description|\bdetail|\bmessage|\blocalizedDescription|\berrorText|\breason|String\(describing:[^)]*\)|"\\\((error|failure)\)")\??\s*\.(contains|hasPrefix|hasSuffix|starts|firstRange|range)\("#
        ).wordBoundaryKind(.simple)  // "failure.message" has a boundary at the dot (Unicode's default has none)
    }

    static func findings(in line: Substring) -> Bool {
        let code = line.drop { $0 == " " }
        if code.hasPrefix("//") { return false }
        // The regex only where a text test is called at all (it is slow over every line).
        let calls = [".contains(", ".hasPrefix(", ".hasSuffix(", ".starts(", ".firstRange(", ".range("]
        guard calls.contains(where: { line.firstRange(of: $0) != nil }) else { return false }
        return line.contains(textDecision)
    }

    static var sourcesDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
    }

    @Test func thePatternCatchesTheDecisionsItIsMeantFor() {
        #expect(Self.findings(in: #"        if detail.contains("connection refused") { return .unavailable }"#))
        #expect(Self.findings(in: #"guard !error.description.hasPrefix("HTTPClientError.connect") else {"#))
        #expect(Self.findings(in: #"if String(describing: error).contains("ECONNREFUSED") {"#))
        #expect(Self.findings(in: #"let refused = "\(error)".contains("refused")"#))
        #expect(Self.findings(in: #"if failure.message?.contains("timed out") == true {"#))
        #expect(!Self.findings(in: #"if tables.contains("schema_migrations") {"#))
        #expect(!Self.findings(in: #"    // never detail.contains("refused"): the case decides"#))
    }

    @Test func noSourceFileDecidesOnAnErrorsText() throws {
        let root = Self.sourcesDirectory
        let files = try #require(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        #expect(files.count > 100, "Sources/ read from \(root.path)")
        var found: [String] = []
        for file in files.sorted() {
            let text = try String(contentsOfFile: root.appendingPathComponent(file).path, encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where Self.findings(in: line) {
                found.append("Sources/\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(found.isEmpty, "decide on the failure's case, not its text:\n\(found.joined(separator: "\n"))")
    }
}
