import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Typed access to merged values

/// Reads typed values out of the merged key map, recording a problem for every mismatch.
struct Fields {
    let merged: [String: Located]
    let configFile: String
    let tableLines: [String: Int]
    var problems: [ConfigProblem] = []
    var reportMissing: (String) -> Bool = { _ in true }

    init(merged: [String: Located], configFile: String, tableLines: [String: Int]) {
        self.merged = merged
        self.configFile = configFile
        self.tableLines = tableLines
    }

    mutating func problem(at located: Located, _ message: String) {
        problems.append(ConfigProblem(file: located.file, line: located.line, message: message))
    }

    mutating func missing(_ key: String, what: String) {
        guard reportMissing(key) else { return }
        let parts = key.split(separator: ".", maxSplits: 1)
        if parts.count == 2 {
            let table = String(parts[0])
            let line = tableLines[table] ?? 1
            problems.append(
                ConfigProblem(
                    file: configFile, line: line, message: "missing required key '\(parts[1])' in [\(table)]: \(what)"))
        } else {
            problems.append(ConfigProblem(file: configFile, line: 1, message: "missing required key '\(key)': \(what)"))
        }
    }

    mutating func wrongType(_ key: String, _ at: Located, expected: String) {
        var hint = ""
        if case .string(let s) = at.value, expected == "an integer", Int(s) != nil { hint = "; remove the quotes" }
        if expected == "a string", !(at.value.isTable) { hint = "; put it in quotes" }
        problem(at: at, "\(key) must be \(expected), got \(at.value.typeName) (\(at.value.shortText))\(hint)")
    }

    mutating func string(_ key: String, required: Bool, what: String) -> String? {
        guard let at = merged[key] else {
            if required { missing(key, what: what) }
            return nil
        }
        guard case .string(let s) = at.value else {
            wrongType(key, at, expected: "a string")
            return nil
        }
        return s
    }

    /// A string holding a path; relative paths resolve against the file that set them.
    mutating func path(_ key: String, required: Bool, what: String) -> String? {
        guard let s = string(key, required: required, what: what), let at = merged[key] else { return nil }
        guard !s.isEmpty else {
            problem(at: at, "\(key) is empty; give a path\(what.isEmpty ? "" : " (\(what))")")
            return nil
        }
        return ConfigLoader.resolve(s, relativeTo: at.file)
    }

    mutating func optionalInteger(_ key: String, range: ClosedRange<Int>? = nil, oneOf: [Int]? = nil) -> Int? {
        guard let at = merged[key] else { return nil }
        guard case .integer(let i) = at.value else {
            wrongType(key, at, expected: "an integer")
            return nil
        }
        if let range, !range.contains(i) {
            problem(at: at, "\(key) must be between \(range.lowerBound) and \(range.upperBound), got \(i)")
            return nil
        }
        if let oneOf, !oneOf.contains(i) {
            problem(at: at, "\(key) must be one of \(oneOf.map(String.init).joined(separator: ", ")); got \(i)")
            return nil
        }
        return i
    }

    mutating func integer(_ key: String, default value: Int, range: ClosedRange<Int>? = nil, oneOf: [Int]? = nil) -> Int
    {
        optionalInteger(key, range: range, oneOf: oneOf) ?? value
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(
        _ key: String, default value: T?, required: Bool = false
    ) -> T?
    where T.RawValue == String {
        let allowed = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard let s = string(key, required: required, what: "one of \(allowed)") else { return value }
        guard let v = T(rawValue: s) else {
            if let at = merged[key] { problem(at: at, "\(key) must be one of \(allowed); got \"\(s)\"") }
            return value
        }
        return v
    }
}

extension TOMLValue {
    var isTable: Bool {
        if case .table = self { return true }
        return false
    }

    /// The value as a technician wrote it, shortened (never used for the token: it is not in the config).
    var shortText: String {
        switch self {
        case .string(let s): return "\"\(s.count > 40 ? String(s.prefix(40)) + "..." : s)\""
        case .integer(let i): return String(i)
        case .float(let d): return String(d)
        case .boolean(let b): return String(b)
        case .array(let a): return "[\(a.count) element(s)]"
        case .table: return "{...}"
        }
    }
}
