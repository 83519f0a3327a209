import KioskCore

/// Everything the daemon needs to know about one machine: the config file merged over its
/// hardware profile, validated. Build it with `ConfigLoader.load`, or in code (tests, demo).
public struct KioskConfiguration: Sendable, Hashable {
    /// Sent to the API as `machine_id`.
    public var machineID: String
    /// The `profile` value as written (a name or a path).
    public var profile: String
    /// The hardware profile file that was read.
    public var profileFile: String
    public var currency: Currency
    public var api: APISettings
    public var serial: SerialOptions
    public var controller: ControllerSettings
    public var vend: VendSettings
    /// Display output; `errorCorrection` comes from `[qr] error_correction`.
    public var display: DisplayOptions
    public var qr: QRSettings
    public var journal: JournalSettings
    public var metrics: MetricsSettings
    /// `[support]`: what the refund notice tells the customer.
    public var support: SupportOptions
    /// The config file that was read.
    public var configFile: String

    public init(
        machineID: String, profile: String, profileFile: String, currency: Currency, api: APISettings,
        serial: SerialOptions, controller: ControllerSettings, vend: VendSettings = VendSettings(),
        display: DisplayOptions, qr: QRSettings, journal: JournalSettings, metrics: MetricsSettings = MetricsSettings(),
        support: SupportOptions = SupportOptions(), configFile: String
    ) {
        self.support = support
        self.machineID = machineID
        self.profile = profile
        self.profileFile = profileFile
        self.currency = currency
        self.api = api
        self.serial = serial
        self.controller = controller
        self.vend = vend
        self.display = display
        self.qr = qr
        self.journal = journal
        self.metrics = metrics
        self.configFile = configFile
    }

    /// The API token for this config: the systemd credential when present, else `api.token_file`.
    public func loadToken(environment: [String: String]) throws(TokenError) -> APIToken {
        try TokenLoader.load(tokenFile: api.tokenFile, environment: environment)
    }

    /// A few lines for `check-config` and the daemon's start-up log.
    public var summary: String {
        let s = serial
        let frame = "\(s.dataBits)\(s.parity.rawValue.prefix(1).uppercased())\(s.stopBits)"
        var controllerLine = "\(controller.protocolKind.rawValue) on \(s.device), \(s.baud) \(frame)"
        if s.flowControl != .none { controllerLine += ", flow control \(s.flowControl.rawValue)" }
        if controller.protocolKind == .qibixxMDB {
            let q = controller.qibixx
            controllerLine +=
                "; \(q.sessionMode.rawValue), \(q.decimalPlaces) decimal place(s), scale factor \(q.scaleFactor)"
            if let t = q.vendTimeoutSeconds { controllerLine += ", vend timeout \(t) s" }
        }
        var timeouts = "QR times out after \(vend.paymentTimeoutSeconds) s"
        if let machine = controller.machineTimeoutSeconds { timeouts += ", the machine gives up after \(machine) s" }
        let displayLine: String
        switch display.output {
        case .framebuffer:
            var geometry = ""
            if let w = display.width, let h = display.height, let bpp = display.bitsPerPixel {
                geometry = " (\(w)x\(h), \(bpp) bpp)"
            }
            displayLine = "framebuffer \(display.device)\(geometry)"
        case .png: displayLine = "png \(display.pngPath)"
        case .terminal: displayLine = "terminal"
        case .none: displayLine = "none"
        }
        let qrLine: String
        switch qr.source {
        case .invoiceImage:
            qrLine =
                "the invoice's own QR image, "
                + (qr.refreshSeconds > 0
                    ? "re-fetched every \(qr.refreshSeconds) s" : "re-fetched only before a code expires")
        case .template: qrLine = "template \(qr.payload.map(\.description) ?? "(none)")"
        }
        return [
            "machine:    \(machineID) (\(currency.code))",
            "profile:    \(profile) -> \(profileFile)",
            "controller: \(controllerLine)",
            "vend:       \(timeouts); \(vend.items.count) item(s) in [vend.items]",
            "api:        \(api.baseURL) (\(api.requestsPerMinute)/min, status \(api.statusRequestsPerMinute)/min; \(api.connectionSummary))",
            "display:    \(displayLine), QR error correction \(display.errorCorrection.rawValue), language \(display.texts.language.rawValue)"
                + (display.texts.overrides.isEmpty ? "" : ", \(display.texts.overrides.count) text(s) overridden"),
            "qr:         \(qrLine)",
            "journal:    \(journal.path) (kept \(journal.retentionDays) days)",
            "metrics:    \(metrics.textfile ?? "off")",
            "support:    \(support.contact ?? "no contact")"
                + (support.url.map { ", help page \($0)" } ?? "") + "; refund notice shown \(support.noticeSeconds) s",
        ].joined(separator: "\n")
    }
}

/// `[api]`: where the DripPay API is and how hard the daemon may call it.
public struct APISettings: Sendable, Hashable {
    /// `https://host/api/v1` (http only for loopback hosts), without a trailing slash.
    public var baseURL: String
    /// The file holding `{id}|{secret}`; `$CREDENTIALS_DIRECTORY/drippay-token` wins when present.
    public var tokenFile: String
    public var requestTimeoutSeconds: Int
    /// 1...600: the API's limit for the status endpoint.
    public var statusRequestsPerMinute: Int
    /// 1...60: the API's limit for every other endpoint.
    public var requestsPerMinute: Int
    /// A PEM file of a private CA trusted for the API besides the system's store (`ca_file`).
    public var caFile: String?
    /// The proxy URL (`proxy`); nil: the environment's `https_proxy` / `no_proxy`; "": none at all.
    public var proxy: String?

    public init(
        baseURL: String, tokenFile: String, requestTimeoutSeconds: Int = 10, statusRequestsPerMinute: Int = 600,
        requestsPerMinute: Int = 60, caFile: String? = nil, proxy: String? = nil
    ) {
        self.baseURL = baseURL
        self.tokenFile = tokenFile
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.statusRequestsPerMinute = statusRequestsPerMinute
        self.requestsPerMinute = requestsPerMinute
        self.caFile = caFile
        self.proxy = proxy
    }

    /// How the API is reached, for the configuration summary (a proxy's password left out).
    var connectionSummary: String {
        var parts: [String] = []
        if let caFile { parts.append("CA \(caFile)") }
        switch proxy {
        case nil: parts.append("proxy from the environment")
        case ""?: parts.append("no proxy")
        case let proxy?: parts.append("proxy \(proxyWithoutCredentials(proxy))")
        }
        return parts.joined(separator: ", ")
    }
}

/// `[controller]`: who the daemon talks to on the serial line.
public struct ControllerSettings: Sendable, Hashable {
    public var protocolKind: ControllerProtocolKind
    /// The machine's own patience for a vend request (from the profile); the QR timeout
    /// (`payment_timeout_s`) must stay below it, or the machine gives up while the customer pays.
    public var machineTimeoutSeconds: Int?
    /// `[qibixx]`: the MDB adapter's configuration (used by `qibixx-mdb` only).
    public var qibixx: QibixxSettings

    public init(
        protocolKind: ControllerProtocolKind, machineTimeoutSeconds: Int? = nil,
        qibixx: QibixxSettings = QibixxSettings()
    ) {
        self.protocolKind = protocolKind
        self.machineTimeoutSeconds = machineTimeoutSeconds
        self.qibixx = qibixx
    }
}

/// `[vend]` and `[vend.items]`.
public struct VendSettings: Sendable, Hashable {
    /// How long a QR stays up before the vend is cancelled.
    public var paymentTimeoutSeconds: Int
    /// After a restart: how long an open session waits to be re-claimed by the controller.
    public var resumeGraceSeconds: Int
    /// The planogram: product code -> invoice item description.
    public var items: [ProductCode: String]
    /// How long after a cancel confirmed only by a 404 (a soft-deleted invoice) its status is still
    /// re-read for a late payment; 0 ends the session at the 404.
    public var latePaymentWatchSeconds: Int
    /// `late_payment_watch_s` when the config does not set it.
    public static let defaultLatePaymentWatchSeconds = 10

    public init(
        paymentTimeoutSeconds: Int = 90, resumeGraceSeconds: Int = 15, items: [ProductCode: String] = [:],
        latePaymentWatchSeconds: Int = VendSettings.defaultLatePaymentWatchSeconds
    ) {
        self.latePaymentWatchSeconds = latePaymentWatchSeconds
        self.paymentTimeoutSeconds = paymentTimeoutSeconds
        self.resumeGraceSeconds = resumeGraceSeconds
        self.items = items
    }
}

/// `[qr]`: what the QR code encodes (its error correction level lives in `DisplayOptions`).
public struct QRSettings: Sendable, Hashable {
    /// Where the QR's text comes from.
    public enum Source: String, Sendable, Hashable, CaseIterable {
        /// The invoice's own QR image (`qr_code_image_url`), fetched, decoded and redrawn (the default).
        case invoiceImage = "invoice-image"
        /// `payload`, filled in for each invoice (an operator's own pay page).
        case template
    }

    public var source: Source
    /// Required with `.template`; ignored otherwise.
    public var payload: QRPayloadTemplate?
    /// `refresh_s`: re-fetch the invoice image this often while it shows a code without an expiry
    /// (0 = never); a Lightning code is re-fetched around its own expiry (`PayCodeSchedule`).
    public var refreshSeconds: Int

    public init(source: Source = .invoiceImage, payload: QRPayloadTemplate? = nil, refreshSeconds: Int = 10) {
        self.source = source
        self.payload = payload
        self.refreshSeconds = refreshSeconds
    }

    /// Today's behaviour: `payload` filled in for each invoice.
    public init(payload: QRPayloadTemplate) { self.init(source: .template, payload: payload) }
}

/// `[journal]`: the SQLite file that is the daemon's only state.
public struct JournalSettings: Sendable, Hashable {
    public var path: String
    /// Ended sessions older than this may be pruned; open and refund-due ones never are.
    public var retentionDays: Int

    public init(path: String, retentionDays: Int = 90) {
        self.path = path
        self.retentionDays = retentionDays
    }
}

/// `[metrics]`: the Prometheus textfile-collector output, off when nil.
public struct MetricsSettings: Sendable, Hashable {
    public var textfile: String?

    public init(textfile: String? = nil) { self.textfile = textfile }
}

/// One thing wrong in a config or profile file, at a line.
public struct ConfigProblem: Error, Hashable, Sendable, CustomStringConvertible, Comparable {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `FILE:LINE: message`, the form editors and CI understand.
    public var description: String { "\(file):\(line): \(message)" }

    public static func < (a: ConfigProblem, b: ConfigProblem) -> Bool {
        (a.file, a.line, a.message) < (b.file, b.line, b.message)
    }
}

/// Every problem found in a config and its profile, sorted by file then line.
public struct ConfigProblems: Error, Sendable, CustomStringConvertible {
    /// The process exit status for an invalid config (`EX_CONFIG` from sysexits.h).
    public static let exitCode: Int32 = 78

    public var problems: [ConfigProblem]

    public init(_ problems: [ConfigProblem]) {
        self.problems = Array(Set(problems)).sorted()
    }

    /// One `FILE:LINE: message` per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
