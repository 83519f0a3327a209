import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Reads a config file and its hardware profile, and checks every key (README.md, "Configuration").
///
/// Values in the profile are defaults; the same keys in the config file override them.
/// Relative paths are relative to the directory of the file that sets them.
/// Every problem found is returned at once, as `FILE:LINE: message`.
public enum ConfigLoader {
    /// Loads and validates `configFile`.
    ///
    /// - Parameters:
    ///   - environment: used for `$CREDENTIALS_DIRECTORY` (the systemd token credential).
    ///   - profileSearchPaths: directories searched for `<name>.toml` after the
    ///     `hardware-profiles/` directory next to the config file; nil means
    ///     `defaultProfileSearchPaths()`.
    public static func load(
        configFile: String, environment: [String: String] = ProcessInfo.processInfo.environment,
        profileSearchPaths: [String]? = nil
    ) -> Result<KioskConfiguration, ConfigProblems> {
        var loader = Loader(configFile: configFile, environment: environment)
        let result = loader.run(searchPaths: profileSearchPaths ?? defaultProfileSearchPaths())
        if let config = result, loader.problems.isEmpty { return .success(config) }
        return .failure(ConfigProblems(loader.problems))
    }

    /// Where installed and in-repo profiles live: `/usr/share/drippay-kiosk/hardware-profiles`,
    /// then a `hardware-profiles` directory found by walking up from the current directory and
    /// from the executable's directory (a source checkout).
    public static func defaultProfileSearchPaths() -> [String] {
        var paths = ["/usr/share/drippay-kiosk/hardware-profiles"]
        var starts = [FileManager.default.currentDirectoryPath]
        if let executable = executableDirectory() { starts.append(executable) }
        for start in starts {
            if let found = findUpward("hardware-profiles", from: start), !paths.contains(found) { paths.append(found) }
        }
        return paths
    }

    /// The directory of the running executable, links resolved.
    static func executableDirectory() -> String? {
        #if canImport(FoundationEssentials)
        // Linux: the kernel's resolved path (FoundationEssentials has no `Bundle`).
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        return URL(fileURLWithPath: executable).deletingLastPathComponent().path
        #else
        return Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent().path
        #endif
    }

    /// The nearest `name` directory in `start` or one of its parents.
    static func findUpward(_ name: String, from start: String) -> String? {
        var dir = URL(fileURLWithPath: start).standardizedFileURL
        for _ in 0..<12 {
            let candidate = dir.appendingPathComponent(name).path
            if FileStatus.isDirectory(candidate) {
                return candidate
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { return nil }
            dir = parent
        }
        return nil
    }

    /// The files tried, in order, for a profile given by name.
    public static func profileCandidates(name: String, configFile: String, searchPaths: [String]) -> [String] {
        let nextToConfig = directory(of: configFile) + "/hardware-profiles"
        var dirs = [nextToConfig]
        for path in searchPaths where !dirs.contains(path) { dirs.append(path) }
        return dirs.map { "\($0)/\(name).toml" }
    }

    static func directory(of file: String) -> String {
        let url = URL(fileURLWithPath: file).standardizedFileURL
        return url.deletingLastPathComponent().path
    }

    /// `path` made absolute against the directory of `file`.
    static func resolve(_ path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: directory(of: file), isDirectory: true))
            .standardizedFileURL.path
    }
}

// MARK: - Schema

/// The keys each table allows (README.md, "Configuration").
enum Schema {
    static let rootKeys = ["machine_id", "profile", "currency"]
    static let tables: [(name: String, keys: [String])] = [
        (
            "api",
            [
                "base_url", "token_file", "request_timeout_s", "status_requests_per_minute", "requests_per_minute",
                "ca_file", "proxy",
            ]
        ),
        ("serial", ["device", "baud", "data_bits", "parity", "stop_bits", "flow_control"]),
        ("controller", ["protocol", "machine_timeout_s"]),
        ("qibixx", ["session_mode", "decimal_places", "scale_factor", "vend_timeout_s"]),
        ("vend", ["payment_timeout_s", "resume_grace_s", "late_payment_watch_s", "items"]),
        ("display", ["output", "device", "png_path", "width", "height", "bits_per_pixel", "language", "texts"]),
        ("qr", ["source", "payload", "refresh_s", "error_correction"]),
        ("journal", ["path", "retention_days"]),
        ("metrics", ["textfile"]),
        ("support", ["contact", "url", "notice_s"]),
    ]
    static let tableNames = tables.map(\.name)
    static func keys(of table: String) -> [String]? { tables.first { $0.name == table }?.keys }

    static let standardBauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200, 230_400, 460_800, 921_600]
}

/// A value with the file and line it came from.
struct Located {
    var value: TOMLValue
    var file: String
    var line: Int
}

/// The keys of one file, flattened to `table.key`.
struct FlatFile {
    var file: String
    var values: [String: Located] = [:]
    /// `[vend.items]` entries: product code as written -> description.
    var items: [(name: String, value: Located)] = []
    /// `[display.texts]` entries: text key as written -> the operator's wording.
    var texts: [(name: String, value: Located)] = []
    /// Line of each table's header (or first dotted key).
    var tableLines: [String: Int] = [:]

    /// The sub-tables whose keys are the operator's own (product codes, text keys), kept in the
    /// order written: where each one's entries go, and what its lines look like (for the message
    /// when it is not a table).
    static func namedEntryTable(
        _ table: String
    ) -> (entries: WritableKeyPath<FlatFile, [(name: String, value: Located)]>, lines: String)? {
        switch table {
        case "vend.items": (\.items, "\"code\" = \"description\"")
        case "display.texts": (\.texts, "key = \"text\"")
        default: nil
        }
    }
}

// MARK: - Loader

struct Loader {
    let configFile: String
    let environment: [String: String]
    var problems: [ConfigProblem] = []

    init(configFile: String, environment: [String: String]) {
        self.configFile = configFile
        self.environment = environment
    }

    mutating func problem(_ file: String, _ line: Int, _ message: String) {
        problems.append(ConfigProblem(file: file, line: max(line, 1), message: message))
    }

    mutating func problem(at located: Located, _ message: String) {
        problem(located.file, located.line, message)
    }

    /// Reads and parses one TOML file; nil (with problems recorded) when that fails.
    mutating func parse(_ file: String, readProblemLine: (file: String, line: Int)) -> TOMLTable? {
        guard let data = FileManager.default.contents(atPath: file) else {
            let why =
                !FileStatus.exists(file)
                ? "does not exist"
                : FileStatus.isDirectory(file) ? "is a directory" : "cannot be read (permission denied)"
            problem(readProblemLine.file, readProblemLine.line, "\(file) \(why)")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            problem(file, 1, "the file is not UTF-8 text")
            return nil
        }
        switch TOMLParser.parse(text) {
        case .success(let root):
            return root
        case .failure(let errors):
            for e in errors.errors { problem(file, e.line, e.message) }
            return nil
        }
    }

    mutating func run(searchPaths: [String]) -> KioskConfiguration? {
        guard let configRoot = parse(configFile, readProblemLine: (configFile, 1)) else { return nil }
        let config = flatten(configRoot, file: configFile, isProfile: false)

        // The profile: its problems carry its own path.
        var profile = FlatFile(file: "")
        var profileName = ""
        var profileLoaded = false
        if let p = config.values["profile"] {
            if case .string(let name) = p.value {
                profileName = name
                if let file = locateProfile(name, at: p, searchPaths: searchPaths) {
                    profile.file = file
                    if let root = parse(file, readProblemLine: (p.file, p.line)) {
                        profile = flatten(root, file: file, isProfile: true)
                        profileLoaded = true
                    }
                }
            } else {
                problem(
                    at: p,
                    "profile must be a string (a name from hardware-profiles/ or a path to a .toml file), got \(p.value.typeName)"
                )
            }
        }

        var merged = profile.values
        for (key, value) in config.values { merged[key] = value }
        // The config's product and wording of a text win over the profile's, key by key.
        let (items, itemOrder) = Self.mergedInOrder(profile.items + config.items)
        let (texts, textOrder) = Self.mergedInOrder(profile.texts + config.texts)

        var fields = Fields(merged: merged, configFile: configFile, tableLines: config.tableLines)
        // Keys a missing profile would have supplied are not reported missing on top of it.
        let loaded = profileLoaded
        fields.reportMissing = { key in loaded || !(key.hasPrefix("serial.") || key.hasPrefix("controller.")) }
        let configuration = build(
            &fields, items: items, itemOrder: itemOrder,
            texts: textOrder.compactMap { key in texts[key].map { (key, $0) } },
            profileName: profileName, profileFile: profile.file)
        problems += fields.problems
        return configuration
    }

    /// Entries by name, a later one replacing an earlier one of the same name, and the names in
    /// the order each first appeared.
    static func mergedInOrder(_ entries: [(name: String, value: Located)]) -> ([String: Located], [String]) {
        var byName: [String: Located] = [:]
        var order: [String] = []
        for (name, value) in entries {
            if byName[name] == nil { order.append(name) }
            byName[name] = value
        }
        return (byName, order)
    }

    /// Finds the profile file; records a problem listing every place tried when there is none.
    mutating func locateProfile(_ name: String, at located: Located, searchPaths: [String]) -> String? {
        if name.hasSuffix(".toml") {
            let path = ConfigLoader.resolve(name, relativeTo: located.file)
            if FileManager.default.fileExists(atPath: path) { return path }
            problem(at: located, "hardware profile file \(path) does not exist")
            return nil
        }
        let nameOK =
            !name.isEmpty
            && name.utf8.allSatisfy { b in
                (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
                    || b == 0x2D
                    || b == 0x2E
            } && !name.hasPrefix(".")
        guard nameOK else {
            problem(
                at: located,
                "profile \"\(name)\" is neither a profile name (letters, digits, '-', '_', '.') nor a path ending in .toml"
            )
            return nil
        }
        let candidates = ConfigLoader.profileCandidates(name: name, configFile: configFile, searchPaths: searchPaths)
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        problem(at: located, "hardware profile \"\(name)\" not found; looked for \(candidates.joined(separator: ", "))")
        return nil
    }

    // MARK: Flattening

    /// Turns a parsed file into `table.key` values, reporting unknown keys and tables.
    mutating func flatten(_ root: TOMLTable, file: String, isProfile: Bool) -> FlatFile {
        var flat = FlatFile(file: file)
        for (key, node) in root.orderedEntries {
            if Schema.rootKeys.contains(key) {
                if case .table = node.value {
                    problem(file, node.keyLine, "\(key) must be a value (key = \"...\"), not a table")
                } else if isProfile {
                    problem(file, node.keyLine, "\(key) cannot be set in a hardware profile; set it in the config file")
                } else {
                    flat.values[key] = Located(value: node.value, file: file, line: node.keyLine)
                }
                continue
            }
            guard let allowed = Schema.keys(of: key) else {
                if case .table = node.value {
                    problem(
                        file, node.keyLine,
                        "unknown table [\(key)]\(suggestion(key, Schema.tableNames)); allowed tables: \(Schema.tableNames.map { "[\($0)]" }.joined(separator: ", "))"
                    )
                } else {
                    problem(
                        file, node.keyLine,
                        "unknown key '\(key)'\(suggestion(key, Schema.rootKeys + Schema.tableNames)); top-level keys are \(Schema.rootKeys.joined(separator: ", ")), the rest goes in tables"
                    )
                }
                continue
            }
            guard case .table(let table) = node.value else {
                problem(file, node.keyLine, "\(key) must be a table ([\(key)]), not \(node.value.typeName)")
                continue
            }
            if isProfile, key == "api" {
                problem(file, node.keyLine, "[api] cannot be set in a hardware profile; set it in the config file")
                continue
            }
            flat.tableLines[key] = node.keyLine
            for (sub, subNode) in table.orderedEntries {
                let full = "\(key).\(sub)"
                guard allowed.contains(sub) else {
                    problem(
                        file, subNode.keyLine,
                        "unknown key '\(sub)' in [\(key)]\(suggestion(sub, allowed)); allowed: \(allowed.joined(separator: ", "))"
                    )
                    continue
                }
                if let named = FlatFile.namedEntryTable(full) {
                    guard case .table(let entries) = subNode.value else {
                        problem(
                            file, subNode.keyLine,
                            "\(full) must be a table ([\(full)] with \(named.lines) lines), not \(subNode.value.typeName)"
                        )
                        continue
                    }
                    flat.tableLines[full] = subNode.keyLine
                    for (name, entryNode) in entries.orderedEntries {
                        flat[keyPath: named.entries].append(
                            (name, Located(value: entryNode.value, file: file, line: entryNode.keyLine)))
                    }
                    continue
                }
                flat.values[full] = Located(value: subNode.value, file: file, line: subNode.keyLine)
            }
        }
        return flat
    }
}
