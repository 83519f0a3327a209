import Foundation
import KioskCore
import KioskLogging
import Logging
import Testing

/// Collects the lines a handler writes.
final class LineSink: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []

    var lines: [String] { lock.withLock { collected } }

    var write: @Sendable (String) -> Void {
        { line in self.lock.withLock { self.collected.append(line) } }
    }
}

private func logger(level: Logger.Level = .trace, token: APIToken? = nil, sink: LineSink) -> Logger {
    Logger(label: "drippay.test") { label in
        JournaldLogHandler(label: label, level: level, token: token, sink: sink.write)
    }
}

@Suite("Journald logging")
struct LoggingTests {
    @Test(arguments: [
        (Logger.Level.critical, "<3>"), (.error, "<3>"), (.warning, "<4>"), (.notice, "<5>"), (.info, "<6>"),
        (.debug, "<7>"), (.trace, "<7>"),
    ])
    func eachLevelGetsItsJournaldPriorityPrefix(_ level: Logger.Level, _ prefix: String) {
        let sink = LineSink()
        logger(sink: sink).log(level: level, "vend started")
        #expect(sink.lines == ["\(prefix)drippay.test: vend started"])
    }

    @Test func metadataIsWrittenAsSortedKeyValuePairs() {
        let sink = LineSink()
        var log = logger(sink: sink)
        log[metadataKey: "machine_id"] = "VVM-005"
        log.info("invoice created", metadata: ["trade_no": "VVM-005-42", "reason": "jam in column 3"])
        #expect(
            sink.lines == [
                #"<6>drippay.test: invoice created machine_id=VVM-005 reason="jam in column 3" trade_no=VVM-005-42"#
            ])
    }

    @Test func anEventWithNewlinesStaysOneLine() {
        let sink = LineSink()
        logger(sink: sink).error("controller said:\nFAILED 7 jam\r\n", metadata: ["line": "a\nb"])
        #expect(sink.lines.count == 1)
        #expect(sink.lines[0] == #"<3>drippay.test: controller said:\nFAILED 7 jam\r\n line=a\nb"#)
        #expect(!sink.lines[0].contains("\n"))
    }

    @Test func theTokenIsRedactedFromMessageAndMetadata() {
        let sink = LineSink()
        let token = APIToken("42|TopSecretValue123")
        logger(token: token, sink: sink).warning(
            "request with Bearer 42|TopSecretValue123 failed",
            metadata: ["authorization": "Bearer 42|TopSecretValue123", "echo": "TopSecretValue123"])
        #expect(sink.lines.count == 1)
        #expect(!sink.lines[0].contains("TopSecretValue123"))
        #expect(
            sink.lines[0]
                == #"<4>drippay.test: request with Bearer <redacted> failed authorization="Bearer <redacted>" echo=<redacted>"#
        )
    }

    @Test func eventsBelowTheLevelAreDropped() {
        let sink = LineSink()
        let log = logger(level: .notice, sink: sink)
        log.info("not shown")
        log.debug("not shown")
        log.notice("shown")
        #expect(sink.lines == ["<5>drippay.test: shown"])
    }

    @Test func loggedErrorsAppearAsMetadata() {
        struct Jam: Error, CustomStringConvertible { var description: String { "column 3 jammed" } }
        let sink = LineSink()
        let handler = JournaldLogHandler(label: "x", token: nil, sink: sink.write)
        handler.log(
            event: LogEvent(
                level: .error, message: "vend failed", error: Jam(), metadata: nil, source: nil, file: #fileID,
                function: #function, line: #line))
        #expect(sink.lines == [#"<3>x: vend failed error="column 3 jammed""#])
    }
}
