import KioskCore
import Logging

// KioskLogging: one line per event on stderr, with the syslog priority prefix that journald
// reads (`SyslogLevelPrefix=`), and the API token redacted from every line.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Sets up process-wide logging for the daemon and the CLI.
public enum KioskLogging {
    /// Installs `JournaldLogHandler` writing to stderr for every `Logger`. Call once, early.
    ///
    /// - Parameters:
    ///   - level: events below this level are dropped.
    ///   - token: redacted from every line (message, metadata, label) when given.
    public static func bootstrap(level: Logger.Level, token: APIToken?) {
        LoggingSystem.bootstrap { label in
            JournaldLogHandler(label: label, level: level, token: token, sink: JournaldLogHandler.standardError)
        }
    }
}

/// A `LogHandler` that formats each event as one line:
/// `<6>label: message key=value key2="value with spaces"`.
///
/// The `<N>` prefix is the syslog priority journald understands: `<3>` error and critical,
/// `<4>` warning, `<5>` notice, `<6>` info, `<7>` debug and trace. Newlines in messages and
/// values are escaped so that one event is always one journal entry.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?

    private let label: String
    private let redactor: @Sendable (String) -> String
    private let sink: @Sendable (String) -> Void

    /// - Parameters:
    ///   - redactor: applied to the whole formatted line before it is written.
    ///   - sink: receives each finished line without its newline.
    public init(
        label: String, level: Logger.Level = .info, redactor: @escaping @Sendable (String) -> String,
        metadataProvider: Logger.MetadataProvider? = nil, sink: @escaping @Sendable (String) -> Void
    ) {
        self.label = label
        self.logLevel = level
        self.redactor = redactor
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    /// A handler that redacts `token` (when given) from every line.
    public init(
        label: String, level: Logger.Level = .info, token: APIToken?, metadataProvider: Logger.MetadataProvider? = nil,
        sink: @escaping @Sendable (String) -> Void
    ) {
        let redactor: @Sendable (String) -> String
        if let token {
            redactor = { token.redact($0) }
        } else {
            redactor = { $0 }
        }
        self.init(label: label, level: level, redactor: redactor, metadataProvider: metadataProvider, sink: sink)
    }

    /// Writes a line and its newline to stderr in one write, so that lines from concurrent tasks
    /// never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        StandardStream.error.write(Data((line + "\n").utf8))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        if let error = event.error, merged["error"] == nil { merged["error"] = .string(String(describing: error)) }
        let line = JournaldLogHandler.format(
            level: event.level, label: label, message: event.message.description, metadata: merged)
        sink(redactor(line))
    }

    /// The syslog priority prefix for a level.
    public static func priorityPrefix(_ level: Logger.Level) -> String {
        switch level {
        case .critical, .error: return "<3>"
        case .warning: return "<4>"
        case .notice: return "<5>"
        case .info: return "<6>"
        case .debug, .trace: return "<7>"
        }
    }

    /// One line: prefix, label, message, then metadata sorted by key.
    public static func format(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String
    {
        var line = priorityPrefix(level) + label + ": " + escape(message)
        for key in metadata.keys.sorted() {
            line += " " + key + "=" + quoteIfNeeded(render(metadata[key]!))
        }
        return line
    }

    static func render(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array(let a): return "[" + a.map(render).joined(separator: ",") + "]"
        case .dictionary(let d):
            return "{" + d.keys.sorted().map { "\($0)=\(render(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// Newlines and carriage returns become `\n` / `\r` so one event stays one line.
    static func escape(_ text: String) -> String {
        guard text.contains(where: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Values with spaces, quotes or `=` are quoted so that `key=value` pairs stay parseable.
    static func quoteIfNeeded(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\t" }
        guard needsQuotes else { return escape(value) }
        let quoted = value.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
        return "\"" + escape(quoted) + "\""
    }
}
