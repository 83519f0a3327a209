import Foundation
import KioskCore
import Testing

@testable import KioskConfig

private func loaded(_ result: Result<KioskConfiguration, ConfigProblems>) throws -> KioskConfiguration {
    switch result {
    case .success(let config): return config
    case .failure(let problems):
        Issue.record("unexpected problems:\n\(problems)")
        throw problems
    }
}

@Suite("Config loader")
struct ConfigLoaderTests {
    @Test func qibixxKeysComeFromTheProfileAndTheConfigOverridesThem() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(
            config: [3: #"currency = "JPY""#], appending: ["[qibixx]", "scale_factor = 10"],
            profileAppending: ["[qibixx]", #"session_mode = "start-session""#, "vend_timeout_s = 45"])
        let config = try loaded(fixture.load())
        #expect(
            config.controller.qibixx
                == QibixxSettings(sessionMode: .startSession, decimalPlaces: 0, scaleFactor: 10, vendTimeoutSeconds: 45)
        )
        #expect(config.summary.contains("start-session, 0 decimal place(s), scale factor 10, vend timeout 45 s"))
    }

    @Test func validConfigMergesTheProfileAndFillsDefaults() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write()
        let config = try loaded(fixture.load())
        #expect(config.machineID == "VVM-005")
        #expect(config.profile == "test-hat")
        #expect(config.profileFile == fixture.profileFile)
        #expect(config.configFile == fixture.configFile)
        #expect(config.currency == Currency(iso: "USD"))
        #expect(config.api == APISettings(baseURL: "https://drippay-dev.com/api/v1", tokenFile: fixture.tokenFile))
        #expect(config.api.requestTimeoutSeconds == 10)
        #expect(config.api.statusRequestsPerMinute == 600)
        #expect(config.api.requestsPerMinute == 60)
        #expect(config.serial == SerialOptions(device: "/dev/ttyAMA0", baud: 115_200))
        #expect(config.controller == ControllerSettings(protocolKind: .qibixxMDB, machineTimeoutSeconds: 120))
        #expect(
            config.vend
                == VendSettings(paymentTimeoutSeconds: 90, resumeGraceSeconds: 15, items: [ProductCode("5")!: "Soda"]))
        #expect(config.display == DisplayOptions(output: .png))
        #expect(config.qr.payload?.source == "https://pay.example.com/i/{reference}")
        #expect(config.qr.source == .invoiceImage && config.qr.refreshSeconds == 10)
        #expect(config.journal == JournalSettings(path: fixture.dir + "/journal.sqlite", retentionDays: 90))
        #expect(config.metrics == MetricsSettings(textfile: nil))
        #expect(config.support == SupportOptions(contact: nil, url: nil, noticeSeconds: 30))
    }

    @Test func aPrivateCAFileAndAProxyReachTheAPISettingsAndTheSummary() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        try pem.write(toFile: fixture.dir + "/site-ca.pem", atomically: true, encoding: .utf8)
        try fixture.write(config: [8: #"ca_file = "site-ca.pem""#])
        var config = try loaded(fixture.load())
        #expect(config.api.caFile == fixture.dir + "/site-ca.pem")
        #expect(config.api.proxy == nil)
        #expect(config.summary.contains("CA \(fixture.dir)/site-ca.pem, proxy from the environment"))

        try fixture.write(config: [8: #"proxy = "http://ops:hunter2@proxy.site:3128""#])
        config = try loaded(fixture.load())
        #expect(config.api.proxy == "http://ops:hunter2@proxy.site:3128")
        #expect(config.summary.contains("proxy http://***@proxy.site:3128"))
        #expect(!config.summary.contains("hunter2"))

        try fixture.write(config: [8: #"proxy = """#])
        config = try loaded(fixture.load())
        #expect(config.api.proxy == "")
        #expect(config.summary.contains("no proxy"))
    }

    @Test func configKeysOverrideTheProfileKeyByKey() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(appending: ["[serial]", #"device = "/dev/serial0""#, "[display]", #"output = "terminal""#])
        let config = try loaded(fixture.load())
        #expect(config.serial.device == "/dev/serial0")
        #expect(config.serial.baud == 115_200)  // still the profile's
        #expect(config.display.output == .terminal)
    }

    @Test func planogramItemsMergeWithTheConfigWinning() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(profileAppending: ["[vend.items]", #""5" = "Profile soda""#, #""7" = "Water""#])
        let config = try loaded(fixture.load())
        #expect(config.vend.items == [ProductCode("5")!: "Soda", ProductCode("7")!: "Water"])
    }

    @Test(arguments: [
        "http://127.0.0.1:8080/api/v1", "http://localhost/api/v1", "http://[::1]:9000/api/v1",
        "http://127.1.2.3/api/v1",
    ])
    func plainHTTPIsAllowedToLoopbackHosts(_ url: String) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(config: [6: "base_url = \"\(url)\""])
        #expect(try loaded(fixture.load()).api.baseURL == url)
    }

    @Test(arguments: ["http://127.0.0.1.example.com/api", "http://128.0.0.1/api", "http://[::2]/api"])
    func plainHTTPLookalikesOfLoopbackAreRefused(_ url: String) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(config: [6: "base_url = \"\(url)\""])
        #expect(fixture.problemLines().first?.hasPrefix("$CONFIG:6: api.base_url \"\(url)\" uses http://") == true)
    }

    @Test func trailingSlashIsDroppedFromTheBaseURL() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(config: [6: #"base_url = "https://drippay-dev.com/api/v1/""#])
        #expect(try loaded(fixture.load()).api.baseURL == "https://drippay-dev.com/api/v1")
    }

    @Test func systemdCredentialReplacesAMissingTokenFile() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(tokenMode: nil)
        let credentials = fixture.dir + "/credentials"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try fixture.writeToken("7|fromsystemd", mode: 0o400, at: credentials + "/drippay-token")
        _ = try loaded(fixture.load(environment: ["CREDENTIALS_DIRECTORY": credentials]))
    }

    @Test func profileGivenAsARelativePathIsReadFromThere() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(config: [2: #"profile = "hardware-profiles/test-hat.toml""#])
        #expect(try loaded(fixture.load()).profileFile == fixture.profileFile)
    }

    @Test func profileIsFoundInTheSearchPathsAfterTheConfigDirectory() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write()
        let elsewhere = fixture.dir + "/installed"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: fixture.profileFile, toPath: elsewhere + "/test-hat.toml")
        let result = ConfigLoader.load(
            configFile: fixture.configFile, environment: [:], profileSearchPaths: [elsewhere])
        #expect(try loaded(result).profileFile == elsewhere + "/test-hat.toml")
    }

    @Test func profileNotFoundListsEveryPlaceItLooked() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(config: [2: #"profile = "nowhere""#])
        let result = ConfigLoader.load(
            configFile: fixture.configFile, environment: [:], profileSearchPaths: ["/a", "/b"])
        guard case .failure(let problems) = result else {
            Issue.record("loaded without its profile")
            return
        }
        #expect(
            problems.problems.map(\.message) == [
                "hardware profile \"nowhere\" not found; looked for \(fixture.dir)/hardware-profiles/nowhere.toml, /a/nowhere.toml, /b/nowhere.toml"
            ])
    }

    @Test func repositoryProfilesAreFoundByWalkingUpFromANestedDirectory() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let nested = fixture.dir + "/a/b/c"
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        #expect(ConfigLoader.findUpward("hardware-profiles", from: nested) == fixture.dir + "/hardware-profiles")
    }

    @Test func missingConfigFileIsAProblemNotACrash() {
        let result = ConfigLoader.load(
            configFile: "/nonexistent/drippay/kiosk.toml", environment: [:], profileSearchPaths: [])
        guard case .failure(let problems) = result else {
            Issue.record("loaded a file that does not exist")
            return
        }
        #expect(
            problems.description == "/nonexistent/drippay/kiosk.toml:1: /nonexistent/drippay/kiosk.toml does not exist")
    }

    @Test func summaryNamesMachineProfileProtocolDeviceAndDisplay() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write()
        let summary = try loaded(fixture.load()).summary
        #expect(summary.contains("machine:    VVM-005 (USD)"))
        #expect(summary.contains("profile:    test-hat -> \(fixture.profileFile)"))
        #expect(summary.contains("controller: qibixx-mdb on /dev/ttyAMA0, 115200 8N1"))
        #expect(summary.contains("display:    png /run/drippay-kiosk/screen.png"))
    }
}

/// The profile names shipped in hardware-profiles/.
func shippedProfiles() -> [String] {
    let dir = repositoryRoot + "/hardware-profiles"
    let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return files.filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.sorted()
}

/// The example configs shipped in examples/.
func shippedExamples() -> [String] {
    let dir = repositoryRoot + "/examples"
    let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return files.filter { $0.hasSuffix(".toml") }.map { dir + "/" + $0 }.sorted()
}

@Suite("Shipped profiles and examples")
struct ShippedFilesTests {
    @Test func theFourDocumentedProfilesAreShipped() {
        #expect(
            Set(shippedProfiles()).isSuperset(of: ["qibixx-mdb-pi-hat", "qibixx-mdb-usb", "vmc-line-usb", "simulator"]))
    }

    @Test(arguments: shippedProfiles())
    func everyShippedProfileIsAcceptedByName(_ name: String) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(config: [2: "profile = \"\(name)\""])
        // No copy next to the config: the repository's hardware-profiles/ must be found.
        try FileManager.default.removeItem(atPath: fixture.profileFile)
        let result = ConfigLoader.load(
            configFile: fixture.configFile, environment: [:],
            profileSearchPaths: [repositoryRoot + "/hardware-profiles"])
        let config = try loaded(result)
        #expect(config.profileFile == repositoryRoot + "/hardware-profiles/\(name).toml")
    }

    @Test func shippedProfilesCarryTheirDocumentedDevicesAndProtocols() throws {
        let expected: [String: (String, ControllerProtocolKind, DisplayOptions.Output)] = [
            "qibixx-mdb-pi-hat": ("/dev/ttyAMA0", .qibixxMDB, .framebuffer),
            "qibixx-mdb-usb": ("/dev/ttyACM0", .qibixxMDB, .framebuffer),
            "vmc-line-usb": ("/dev/ttyUSB0", .vmcLine, .framebuffer),
            "simulator": ("/run/drippay-kiosk/sim-controller", .vmcLine, .terminal),
        ]
        for (name, (device, kind, output)) in expected {
            let fixture = try Fixture()
            defer { fixture.remove() }
            // The example config keeps the profile's display (it sets none of its own here).
            try fixture.write(config: [2: "profile = \"\(name)\""])
            try FileManager.default.removeItem(atPath: fixture.profileFile)
            let config = try loaded(
                ConfigLoader.load(
                    configFile: fixture.configFile, environment: [:],
                    profileSearchPaths: [repositoryRoot + "/hardware-profiles"]))
            #expect(config.serial.device == device, "\(name)")
            #expect(config.serial.baud == 115_200, "\(name)")
            #expect(config.controller.protocolKind == kind, "\(name)")
            #expect(config.display.output == output, "\(name)")
        }
    }

    @Test(arguments: shippedExamples())
    func everyShippedExampleIsAccepted(_ file: String) throws {
        // The example names /etc/drippay-kiosk/token; under systemd the credential replaces it.
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken("12|exampletoken", mode: 0o400, at: fixture.dir + "/drippay-token")
        let result = ConfigLoader.load(
            configFile: file, environment: ["CREDENTIALS_DIRECTORY": fixture.dir],
            profileSearchPaths: [repositoryRoot + "/hardware-profiles"])
        let config = try loaded(result)
        #expect(!config.machineID.isEmpty)
    }

    @Test func theExampleSetsEveryContractKey() throws {
        let text = try String(contentsOfFile: repositoryRoot + "/examples/kiosk.toml", encoding: .utf8)
        for key in [
            "machine_id", "profile", "currency", "base_url", "token_file", "request_timeout_s",
            "status_requests_per_minute", "requests_per_minute", "device", "baud", "protocol", "payment_timeout_s",
            "resume_grace_s", "[vend.items]", "output", "png_path", "payload", "path", "textfile",
        ] {
            #expect(text.contains(key), "examples/kiosk.toml does not mention \(key)")
        }
    }
}
