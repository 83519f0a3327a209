#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KioskCore

/// Reads a config file and its hardware profile, and checks every key (contract.md, "Config file").
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
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
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

/// The keys each table allows (contract.md plus the documented additions).
enum Schema {
    static let rootKeys = ["machine_id", "profile", "currency"]
    static let tables: [(name: String, keys: [String])] = [
        ("api", ["base_url", "token_file", "request_timeout_s", "status_requests_per_minute", "requests_per_minute"]),
        ("serial", ["device", "baud", "data_bits", "parity", "stop_bits", "flow_control"]),
        ("controller", ["protocol", "machine_timeout_s"]),
        ("qibixx", ["session_mode", "decimal_places", "scale_factor", "vend_timeout_s"]),
        ("vend", ["payment_timeout_s", "resume_grace_s", "items"]),
        ("display", ["output", "device", "png_path", "width", "height", "bits_per_pixel"]),
        ("qr", ["source", "payload", "refresh_s", "error_correction"]),
        ("journal", ["path", "retention_days"]),
        ("metrics", ["textfile"]),
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
    var items: [(code: String, value: Located)] = []
    /// Line of each table's header (or first dotted key).
    var tableLines: [String: Int] = [:]
}

// MARK: - Loader

private struct Loader {
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
            let why = !FileStatus.exists(file) ? "does not exist" : FileStatus.isDirectory(file) ? "is a directory" : "cannot be read (permission denied)"
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
                problem(at: p, "profile must be a string (a name from hardware-profiles/ or a path to a .toml file), got \(p.value.typeName)")
            }
        }

        var merged = profile.values
        for (key, value) in config.values { merged[key] = value }
        var items: [String: Located] = [:]
        var itemOrder: [String] = []
        for (code, value) in profile.items + config.items {
            if items[code] == nil { itemOrder.append(code) }
            items[code] = value
        }

        var fields = Fields(merged: merged, configFile: configFile, tableLines: config.tableLines)
        // Keys a missing profile would have supplied are not reported missing on top of it.
        let loaded = profileLoaded
        fields.reportMissing = { key in loaded || !(key.hasPrefix("serial.") || key.hasPrefix("controller.")) }
        let configuration = build(&fields, items: items, itemOrder: itemOrder, profileName: profileName, profileFile: profile.file)
        problems += fields.problems
        return configuration
    }

    /// Finds the profile file; records a problem listing every place tried when there is none.
    mutating func locateProfile(_ name: String, at located: Located, searchPaths: [String]) -> String? {
        if name.hasSuffix(".toml") {
            let path = ConfigLoader.resolve(name, relativeTo: located.file)
            if FileManager.default.fileExists(atPath: path) { return path }
            problem(at: located, "hardware profile file \(path) does not exist")
            return nil
        }
        let nameOK = !name.isEmpty && name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
                || b == 0x2E
        } && !name.hasPrefix(".")
        guard nameOK else {
            problem(at: located, "profile \"\(name)\" is neither a profile name (letters, digits, '-', '_', '.') nor a path ending in .toml")
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
                    problem(file, node.keyLine, "unknown table [\(key)]\(suggestion(key, Schema.tableNames)); allowed tables: \(Schema.tableNames.map { "[\($0)]" }.joined(separator: ", "))")
                } else {
                    problem(file, node.keyLine, "unknown key '\(key)'\(suggestion(key, Schema.rootKeys + Schema.tableNames)); top-level keys are \(Schema.rootKeys.joined(separator: ", ")), the rest goes in tables")
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
                    problem(file, subNode.keyLine, "unknown key '\(sub)' in [\(key)]\(suggestion(sub, allowed)); allowed: \(allowed.joined(separator: ", "))")
                    continue
                }
                if full == "vend.items" {
                    guard case .table(let items) = subNode.value else {
                        problem(file, subNode.keyLine, "vend.items must be a table ([vend.items] with \"code\" = \"description\" lines), not \(subNode.value.typeName)")
                        continue
                    }
                    flat.tableLines[full] = subNode.keyLine
                    for (code, itemNode) in items.orderedEntries {
                        flat.items.append((code, Located(value: itemNode.value, file: file, line: itemNode.keyLine)))
                    }
                    continue
                }
                flat.values[full] = Located(value: subNode.value, file: file, line: subNode.keyLine)
            }
        }
        return flat
    }

    // MARK: Building

    func build(
        _ f: inout Fields, items: [String: Located], itemOrder: [String], profileName: String, profileFile: String
    ) -> KioskConfiguration? {
        let machineID = f.string("machine_id", required: true, what: "the machine's id, sent to the API as machine_id")
        if let id = machineID, let at = f.merged["machine_id"] {
            if id.isEmpty || id.count > 64 || id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                f.problem(at: at, "machine_id must be 1 to 64 printable characters, got \"\(id)\"")
            }
        }
        _ = f.string("profile", required: true, what: "a name from hardware-profiles/ or a path to a .toml file")

        var currency: Currency? = nil
        if let code = f.string("currency", required: true, what: "an ISO 4217 code such as \"USD\""), let at = f.merged["currency"] {
            currency = Currency(iso: code)
            if currency == nil {
                let hint = code.uppercased() != code && Currency(iso: code.uppercased()) != nil ? " (write it in capitals: \"\(code.uppercased())\")" : ""
                f.problem(at: at, "unknown currency \"\(code)\"\(hint); use an ISO 4217 code such as USD, EUR, GBP, CHF, JPY")
            }
        }

        // [api]
        let baseURL = f.string("api.base_url", required: true, what: "the DripPay API, e.g. \"https://drippay-dev.com/api/v1\"")
        var normalizedBaseURL: String? = nil
        if let url = baseURL, let at = f.merged["api.base_url"] {
            switch validateBaseURL(url) {
            case .success(let normalized): normalizedBaseURL = normalized
            case .failure(let message): f.problem(at: at, message.description)
            }
        }
        let tokenFile = f.path("api.token_file", required: true, what: "the file holding the API token \"{id}|{secret}\", mode 600")
        if let token = tokenFile, let at = f.merged["api.token_file"] {
            do {
                _ = try TokenLoader.load(tokenFile: token, environment: environment)
            } catch {
                f.problem(at: at, "api.token_file: \(error.description)")
            }
        }
        let requestTimeout = f.integer("api.request_timeout_s", default: 10, range: 1...300)
        let statusRPM = f.integer("api.status_requests_per_minute", default: 600, range: 1...600)
        let rpm = f.integer("api.requests_per_minute", default: 60, range: 1...60)

        // [serial]
        let device = f.path("serial.device", required: true, what: "the serial device, e.g. \"/dev/ttyAMA0\"; usually set by the hardware profile")
        let baud = f.integer("serial.baud", default: 115_200, oneOf: Schema.standardBauds)
        let dataBits = f.integer("serial.data_bits", default: 8, range: 5...8)
        let parity = f.choice("serial.parity", default: SerialOptions.Parity.none)
        let stopBits = f.integer("serial.stop_bits", default: 1, oneOf: [1, 2])
        let flow = f.choice("serial.flow_control", default: SerialOptions.FlowControl.none)

        // [controller]
        let protocolKind: ControllerProtocolKind? = f.choice("controller.protocol", default: nil, required: true)
        let machineTimeout = f.optionalInteger("controller.machine_timeout_s", range: 1...3600)

        // [qibixx]: how the MDB adapter is configured (sent as C,SETCONF after every connect)
        var qibixx = currency.map(QibixxSettings.defaults(for:)) ?? QibixxSettings()
        qibixx.sessionMode = f.choice("qibixx.session_mode", default: QibixxSettings.SessionMode.alwaysIdle) ?? .alwaysIdle
        qibixx.decimalPlaces = f.integer(
            "qibixx.decimal_places", default: qibixx.decimalPlaces, range: QibixxSettings.decimalPlacesRange)
        qibixx.scaleFactor = f.integer("qibixx.scale_factor", default: 1, range: QibixxSettings.scaleFactorRange)
        qibixx.vendTimeoutSeconds = f.optionalInteger("qibixx.vend_timeout_s", range: 1...3600)
        if protocolKind == .qibixxMDB, let currency, QibixxSettings.currencyCode(currency) == nil, let at = f.merged["currency"] {
            f.problem(at: at, "currency \(currency.code) has no ISO 4217 numeric code known to drippay-kiosk, needed for the MDB adapter's mdb-currency-code")
        }

        // [vend]
        let paymentTimeout = f.integer("vend.payment_timeout_s", default: 90, range: 1...3600)
        let resumeGrace = f.integer("vend.resume_grace_s", default: 15, range: 1...3600)
        if let machine = machineTimeout, paymentTimeout >= machine, let at = f.merged["vend.payment_timeout_s"] ?? f.merged["controller.machine_timeout_s"] {
            let machineAt = f.merged["controller.machine_timeout_s"].map { " (\($0.file):\($0.line))" } ?? ""
            f.problem(at: at, "vend.payment_timeout_s (\(paymentTimeout)) must be below controller.machine_timeout_s (\(machine))\(machineAt): the machine gives up on a vend after \(machine) s, so the QR must come down first")
        }
        var products: [ProductCode: String] = [:]
        for code in itemOrder {
            guard let at = items[code] else { continue }
            guard let product = ProductCode(code) else {
                f.problem(at: at, "[vend.items] key \"\(code)\" is not a product code (1 to 16 of A-Z a-z 0-9 _ -)")
                continue
            }
            guard case .string(let description) = at.value else {
                f.problem(at: at, "vend.items.\"\(code)\" must be a string (the invoice item description), got \(at.value.typeName)")
                continue
            }
            guard !description.trimmingWhitespace().isEmpty else {
                f.problem(at: at, "vend.items.\"\(code)\" has an empty description; give the product name shown on the invoice")
                continue
            }
            products[product] = description
        }

        // [display]
        let output = f.choice("display.output", default: DisplayOptions.Output.none)
        let displayDevice = f.path("display.device", required: false, what: "") ?? "/dev/fb0"
        let pngPath = f.path("display.png_path", required: false, what: "") ?? "/run/drippay-kiosk/screen.png"
        let width = f.optionalInteger("display.width", range: 1...8192)
        let height = f.optionalInteger("display.height", range: 1...8192)
        let bpp = f.optionalInteger("display.bits_per_pixel", oneOf: [16, 24, 32])
        let geometryKeys = ["display.width", "display.height", "display.bits_per_pixel"]
        let given = geometryKeys.filter { f.merged[$0] != nil }
        if !given.isEmpty, given.count < 3, let at = f.merged[given[0]] {
            let missing = geometryKeys.filter { f.merged[$0] == nil }.map { $0.replacingAll("display.", with: "") }
            f.problem(at: at, "[display] width, height and bits_per_pixel go together (a plain-file framebuffer); missing: \(missing.joined(separator: ", "))")
        }

        // [qr]
        let qrSource = f.choice("qr.source", default: QRSettings.Source.invoiceImage) ?? .invoiceImage
        var payload: QRPayloadTemplate? = nil
        let payloadWhat = "the text in the QR code when qr.source = \"template\", e.g. \"https://pay.example.com/i/{reference}\""
        if let text = f.string("qr.payload", required: qrSource == .template, what: payloadWhat), let at = f.merged["qr.payload"] {
            do {
                payload = try QRPayloadTemplate(text)
            } catch {
                f.problem(at: at, error.description)
            }
        }
        let refreshSeconds = f.integer("qr.refresh_s", default: 10, range: 0...3600)
        let qrSettingsOK = qrSource == .invoiceImage || payload != nil
        let correction = f.choice("qr.error_correction", default: QRErrorCorrection.M)

        // [journal], [metrics]
        let journalPath = f.path("journal.path", required: true, what: "the SQLite journal file, e.g. \"/var/lib/drippay-kiosk/journal.sqlite\"")
        let retention = f.integer("journal.retention_days", default: 90, range: 1...36500)
        let textfile = f.path("metrics.textfile", required: false, what: "")

        guard f.problems.isEmpty, problems.isEmpty, let machineID, let currency, let normalizedBaseURL, let tokenFile,
              let device, let protocolKind, qrSettingsOK, let journalPath
        else { return nil }
        return KioskConfiguration(
            machineID: machineID, profile: profileName, profileFile: profileFile, currency: currency,
            api: APISettings(
                baseURL: normalizedBaseURL, tokenFile: tokenFile, requestTimeoutSeconds: requestTimeout,
                statusRequestsPerMinute: statusRPM, requestsPerMinute: rpm),
            serial: SerialOptions(
                device: device, baud: baud, dataBits: dataBits, parity: parity ?? SerialOptions.Parity.none, stopBits: stopBits,
                flowControl: flow ?? SerialOptions.FlowControl.none),
            controller: ControllerSettings(protocolKind: protocolKind, machineTimeoutSeconds: machineTimeout, qibixx: qibixx),
            vend: VendSettings(paymentTimeoutSeconds: paymentTimeout, resumeGraceSeconds: resumeGrace, items: products),
            display: DisplayOptions(
                output: output ?? DisplayOptions.Output.none, device: displayDevice, width: width, height: height, bitsPerPixel: bpp,
                pngPath: pngPath, errorCorrection: correction ?? .M),
            qr: QRSettings(source: qrSource, payload: payload, refreshSeconds: refreshSeconds),
            journal: JournalSettings(path: journalPath, retentionDays: retention),
            metrics: MetricsSettings(textfile: textfile),
            configFile: configFile)
    }
}

/// Checks `api.base_url`; returns it without a trailing slash, or the message for the technician.
func validateBaseURL(_ text: String) -> Result<String, ValidationMessage> {
    let example = "e.g. \"https://drippay-dev.com/api/v1\""
    guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
          let host = components.host, !host.isEmpty
    else {
        return .failure(ValidationMessage("api.base_url \"\(text)\" is not a URL; give scheme, host and path, \(example)"))
    }
    guard scheme == "https" || scheme == "http" else {
        return .failure(ValidationMessage("api.base_url \"\(text)\" must start with https:// (\(example))"))
    }
    if components.query != nil || components.fragment != nil {
        return .failure(ValidationMessage("api.base_url \"\(text)\" must not have a query or fragment; give the API root, \(example)"))
    }
    if scheme == "http", !isLoopback(host) {
        return .failure(ValidationMessage(
            "api.base_url \"\(text)\" uses http:// to a host that is not loopback; use https:// (http is allowed only for localhost, 127.0.0.0/8 and ::1)"))
    }
    var normalized = text
    while normalized.hasSuffix("/") { normalized.removeLast() }
    return .success(normalized)
}

/// A validation message (wrapped so it can be a `Result` failure).
struct ValidationMessage: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// localhost, 127.0.0.0/8 and ::1: the only hosts plain http may go to.
func isLoopback(_ host: String) -> Bool {
    var h = host.lowercased()
    if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
    if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
    let octets = h.split(separator: ".", omittingEmptySubsequences: false)
    guard octets.count == 4, octets[0] == "127" else { return false }
    return octets.allSatisfy { o in !o.isEmpty && o.count <= 3 && o.allSatisfy(\.isASCIIDigit) && Int(o)! <= 255 }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// " (did you mean 'x'?)" when a close name exists.
func suggestion(_ word: String, _ candidates: [String]) -> String {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0)) }.min { $0.1 < $1.1 }
    guard let scored, scored.1 <= max(1, scored.0.count / 3) else { return "" }
    return " (did you mean '\(scored.0)'?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

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
            problems.append(ConfigProblem(
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

    mutating func integer(_ key: String, default value: Int, range: ClosedRange<Int>? = nil, oneOf: [Int]? = nil) -> Int {
        optionalInteger(key, range: range, oneOf: oneOf) ?? value
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ key: String, default value: T?, required: Bool = false) -> T?
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
