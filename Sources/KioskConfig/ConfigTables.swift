import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The config's tables, one function each, read in the file's order (so problems come in the
/// order a technician reads them). Each returns its settings, or nil when a required key is
/// missing or wrong; `build` assembles them when no problem was found anywhere.
extension Loader {
    // MARK: Building

    func build(
        _ f: inout Fields, items: [String: Located], itemOrder: [String], texts: [(key: String, value: Located)],
        profileName: String, profileFile: String
    ) -> KioskConfiguration? {
        let (machineID, currency) = rootKeys(&f)
        let api = apiTable(&f)
        let serial = serialTable(&f)
        let (protocolKind, machineTimeout) = controllerTable(&f)
        let qibixx = qibixxTable(&f, currency: currency, protocolKind: protocolKind)
        let vend = vendTable(&f, items: items, itemOrder: itemOrder, machineTimeout: machineTimeout)
        var display = displayTable(&f, texts: texts)
        let (qr, errorCorrection) = qrTable(&f)
        display.errorCorrection = errorCorrection
        let journal = journalTable(&f)
        let metrics = metricsTable(&f)
        let support = supportTable(&f)

        guard f.problems.isEmpty, problems.isEmpty, let machineID, let currency, let api, let serial, let protocolKind,
            let qr, let journal
        else { return nil }
        return KioskConfiguration(
            machineID: machineID, profile: profileName, profileFile: profileFile, currency: currency, api: api,
            serial: serial,
            controller: ControllerSettings(
                protocolKind: protocolKind, machineTimeoutSeconds: machineTimeout, qibixx: qibixx),
            vend: vend, display: display, qr: qr, journal: journal, metrics: metrics, support: support,
            configFile: configFile)
    }

    /// `machine_id`, `profile`, `currency`.
    func rootKeys(_ f: inout Fields) -> (machineID: String?, currency: Currency?) {
        let machineID = f.string("machine_id", required: true, what: "the machine's id, sent to the API as machine_id")
        if let id = machineID, let at = f.merged["machine_id"] {
            if id.isEmpty || id.count > 64 || id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            {
                f.problem(at: at, "machine_id must be 1 to 64 printable characters, got \"\(id)\"")
            }
        }
        _ = f.string("profile", required: true, what: "a name from hardware-profiles/ or a path to a .toml file")

        var currency: Currency? = nil
        if let code = f.string("currency", required: true, what: "an ISO 4217 code such as \"USD\""),
            let at = f.merged["currency"]
        {
            currency = Currency(iso: code)
            if currency == nil {
                let hint =
                    code.uppercased() != code && Currency(iso: code.uppercased()) != nil
                    ? " (write it in capitals: \"\(code.uppercased())\")" : ""
                f.problem(
                    at: at, "unknown currency \"\(code)\"\(hint); use an ISO 4217 code such as USD, EUR, GBP, CHF, JPY")
            }
        }
        return (machineID, currency)
    }

    /// `[api]`: nil without a valid base URL and token file.
    func apiTable(_ f: inout Fields) -> APISettings? {
        let baseURL = f.string(
            "api.base_url", required: true, what: "the DripPay API, e.g. \"https://drippay-dev.com/api/v1\"")
        var normalizedBaseURL: String? = nil
        if let url = baseURL, let at = f.merged["api.base_url"] {
            switch validateBaseURL(url) {
            case .success(let normalized): normalizedBaseURL = normalized
            case .failure(let message): f.problem(at: at, message.description)
            }
        }
        let tokenFile = f.path(
            "api.token_file", required: true, what: "the file holding the API token \"{id}|{secret}\", mode 600")
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
        let caFile = f.path(
            "api.ca_file", required: false, what: "the PEM file of the private CA that signed the API's certificate")
        if let caFile, let at = f.merged["api.ca_file"], let problem = validateCAFile(caFile) {
            f.problem(at: at, problem)
        }
        let proxy = f.string("api.proxy", required: false, what: "")
        if let proxy, let at = f.merged["api.proxy"], let problem = validateProxy(proxy) { f.problem(at: at, problem) }
        guard let normalizedBaseURL, let tokenFile else { return nil }
        return APISettings(
            baseURL: normalizedBaseURL, tokenFile: tokenFile, requestTimeoutSeconds: requestTimeout,
            statusRequestsPerMinute: statusRPM, requestsPerMinute: rpm, caFile: caFile, proxy: proxy)
    }

    /// `[serial]` (usually from the hardware profile): nil without a device.
    func serialTable(_ f: inout Fields) -> SerialOptions? {
        let device = f.path(
            "serial.device", required: true,
            what: "the serial device, e.g. \"/dev/ttyAMA0\"; usually set by the hardware profile")
        let baud = f.integer("serial.baud", default: 115_200, oneOf: Schema.standardBauds)
        let dataBits = f.integer("serial.data_bits", default: 8, range: 5...8)
        let parity = f.choice("serial.parity", default: SerialOptions.Parity.none)
        let stopBits = f.integer("serial.stop_bits", default: 1, oneOf: [1, 2])
        let flow = f.choice("serial.flow_control", default: SerialOptions.FlowControl.none)
        guard let device else { return nil }
        return SerialOptions(
            device: device, baud: baud, dataBits: dataBits, parity: parity ?? SerialOptions.Parity.none,
            stopBits: stopBits,
            flowControl: flow ?? SerialOptions.FlowControl.none)
    }

    /// `[controller]`: the protocol (required) and the machine's own vend timeout.
    func controllerTable(_ f: inout Fields) -> (protocolKind: ControllerProtocolKind?, machineTimeout: Int?) {
        let protocolKind: ControllerProtocolKind? = f.choice("controller.protocol", default: nil, required: true)
        let machineTimeout = f.optionalInteger("controller.machine_timeout_s", range: 1...3600)
        return (protocolKind, machineTimeout)
    }

    /// `[qibixx]`: how the MDB adapter is configured (sent as C,SETCONF after every connect).
    func qibixxTable(_ f: inout Fields, currency: Currency?, protocolKind: ControllerProtocolKind?) -> QibixxSettings {
        var qibixx = currency.map(QibixxSettings.defaults(for:)) ?? QibixxSettings()
        qibixx.sessionMode =
            f.choice("qibixx.session_mode", default: QibixxSettings.SessionMode.alwaysIdle) ?? .alwaysIdle
        qibixx.decimalPlaces = f.integer(
            "qibixx.decimal_places", default: qibixx.decimalPlaces, range: QibixxSettings.decimalPlacesRange)
        qibixx.scaleFactor = f.integer("qibixx.scale_factor", default: 1, range: QibixxSettings.scaleFactorRange)
        qibixx.vendTimeoutSeconds = f.optionalInteger("qibixx.vend_timeout_s", range: 1...3600)
        if protocolKind == .qibixxMDB, let currency, QibixxSettings.currencyCode(currency) == nil,
            let at = f.merged["currency"]
        {
            f.problem(
                at: at,
                "currency \(currency.code) has no ISO 4217 numeric code known to drippay-kiosk, needed for the MDB adapter's mdb-currency-code"
            )
        }
        return qibixx
    }

    /// `[vend]` and `[vend.items]`; the payment timeout must end before the machine's.
    func vendTable(
        _ f: inout Fields, items: [String: Located], itemOrder: [String], machineTimeout: Int?
    ) -> VendSettings {
        let paymentTimeout = f.integer("vend.payment_timeout_s", default: 90, range: 1...3600)
        let resumeGrace = f.integer("vend.resume_grace_s", default: 15, range: 1...3600)
        let latePaymentWatch = f.integer(
            "vend.late_payment_watch_s", default: VendSettings.defaultLatePaymentWatchSeconds, range: 0...300)
        if let machine = machineTimeout, paymentTimeout >= machine,
            let at = f.merged["vend.payment_timeout_s"] ?? f.merged["controller.machine_timeout_s"]
        {
            let machineAt = f.merged["controller.machine_timeout_s"].map { " (\($0.file):\($0.line))" } ?? ""
            f.problem(
                at: at,
                "vend.payment_timeout_s (\(paymentTimeout)) must be below controller.machine_timeout_s (\(machine))\(machineAt): the machine gives up on a vend after \(machine) s, so the QR must come down first"
            )
        }
        var products: [ProductCode: String] = [:]
        for code in itemOrder {
            guard let at = items[code] else { continue }
            guard let product = ProductCode(code) else {
                f.problem(at: at, "[vend.items] key \"\(code)\" is not a product code (1 to 16 of A-Z a-z 0-9 _ -)")
                continue
            }
            guard case .string(let description) = at.value else {
                f.problem(
                    at: at,
                    "vend.items.\"\(code)\" must be a string (the invoice item description), got \(at.value.typeName)")
                continue
            }
            guard !description.trimmingWhitespace().isEmpty else {
                f.problem(
                    at: at,
                    "vend.items.\"\(code)\" has an empty description; give the product name shown on the invoice")
                continue
            }
            products[product] = description
        }
        return VendSettings(
            paymentTimeoutSeconds: paymentTimeout, resumeGraceSeconds: resumeGrace, items: products,
            latePaymentWatchSeconds: latePaymentWatch)
    }

    /// `[display]` and `[display.texts]`; its QR error correction is set from `[qr]`.
    func displayTable(_ f: inout Fields, texts: [(key: String, value: Located)]) -> DisplayOptions {
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
            f.problem(
                at: at,
                "[display] width, height and bits_per_pixel go together (a plain-file framebuffer); missing: \(missing.joined(separator: ", "))"
            )
        }
        let language = f.choice("display.language", default: ScreenLanguage.en) ?? .en
        return DisplayOptions(
            output: output ?? DisplayOptions.Output.none, device: displayDevice, width: width, height: height,
            bitsPerPixel: bpp,
            pngPath: pngPath, texts: ScreenTexts(language: language, overrides: textOverrides(&f, texts)))
    }

    /// `[display.texts]`: each key a `ScreenTextKey`, each value a non-empty string using only
    /// that text's placeholders.
    func textOverrides(_ f: inout Fields, _ texts: [(key: String, value: Located)]) -> [ScreenTextKey: String] {
        let allowed = ScreenTextKey.allCases.map(\.rawValue)
        var overrides: [ScreenTextKey: String] = [:]
        for (name, at) in texts {
            guard let key = ScreenTextKey(rawValue: name) else {
                f.problem(
                    at: at,
                    "unknown key '\(name)' in [display.texts]\(suggestion(name, allowed)); allowed: \(allowed.joined(separator: ", "))"
                )
                continue
            }
            guard case .string(let text) = at.value else {
                f.wrongType("display.texts.\(name)", at, expected: "a string")
                continue
            }
            guard !text.trimmingWhitespaceAndNewlines().isEmpty else {
                f.problem(
                    at: at,
                    "display.texts.\(name) is empty; give the words to show, or remove the line for the shipped text")
                continue
            }
            let unknown = ScreenTexts.unknownPlaceholders(in: text, for: key)
            guard unknown.isEmpty else {
                let offered =
                    key.placeholders.isEmpty
                    ? "this text takes no placeholders"
                    : "this text takes " + key.placeholders.map { "{\($0)}" }.joined(separator: ", ")
                f.problem(
                    at: at,
                    "display.texts.\(name) uses unknown placeholder(s) \(unknown.map { "{\($0)}" }.joined(separator: ", ")); \(offered)"
                )
                continue
            }
            overrides[key] = text
        }
        return overrides
    }

    /// `[qr]`: nil when `source = "template"` has no valid payload; `error_correction` goes to the display.
    func qrTable(_ f: inout Fields) -> (settings: QRSettings?, errorCorrection: QRErrorCorrection) {
        let qrSource = f.choice("qr.source", default: QRSettings.Source.invoiceImage) ?? .invoiceImage
        var payload: QRPayloadTemplate? = nil
        let payloadWhat =
            "the text in the QR code when qr.source = \"template\", e.g. \"https://pay.example.com/i/{reference}\""
        if let text = f.string("qr.payload", required: qrSource == .template, what: payloadWhat),
            let at = f.merged["qr.payload"]
        {
            do {
                payload = try QRPayloadTemplate(text)
            } catch {
                f.problem(at: at, error.description)
            }
        }
        let refreshSeconds = f.integer("qr.refresh_s", default: 10, range: 0...3600)
        let qrSettingsOK = qrSource == .invoiceImage || payload != nil
        let correction = f.choice("qr.error_correction", default: QRErrorCorrection.M)
        return (
            qrSettingsOK ? QRSettings(source: qrSource, payload: payload, refreshSeconds: refreshSeconds) : nil,
            correction ?? .M
        )
    }

    /// `[journal]`: nil without a path.
    func journalTable(_ f: inout Fields) -> JournalSettings? {
        let journalPath = f.path(
            "journal.path", required: true,
            what: "the SQLite journal file, e.g. \"/var/lib/drippay-kiosk/journal.sqlite\"")
        let retention = f.integer("journal.retention_days", default: 90, range: 1...36500)
        guard let journalPath else { return nil }
        return JournalSettings(path: journalPath, retentionDays: retention)
    }

    /// `[support]`: whom a customer asks after a paid vend that did not dispense.
    func supportTable(_ f: inout Fields) -> SupportOptions {
        let contact = f.string("support.contact", required: false, what: "")
        if let contact, let at = f.merged["support.contact"],
            contact.trimmingWhitespace().isEmpty
                || contact.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        {
            f.problem(
                at: at,
                "support.contact must be one line of printable text, e.g. \"+1 555 0100 · help@example.com\"; got \"\(contact)\""
            )
        }
        var url = f.string("support.url", required: false, what: "")
        if let text = url, let at = f.merged["support.url"] {
            if let message = validateSupportURL(text) {
                f.problem(at: at, message)
                url = nil
            }
        }
        let noticeSeconds = f.integer("support.notice_s", default: 30, range: 5...600)
        return SupportOptions(contact: contact, url: url, noticeSeconds: noticeSeconds)
    }

    /// `[metrics]`.
    func metricsTable(_ f: inout Fields) -> MetricsSettings {
        MetricsSettings(textfile: f.path("metrics.textfile", required: false, what: ""))
    }
}
