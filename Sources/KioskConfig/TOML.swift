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

    public internal(set) var keys: [String] = []
    public internal(set) var entries: [String: TOMLNode] = [:]
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
