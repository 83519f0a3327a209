import Foundation
import Testing

@testable import KioskConfig

/// One broken config and exactly what check-config must say about it.
struct BrokenCase: Sendable, CustomTestStringConvertible {
    var name: String
    var config: [Int: String] = [:]
    var appending: [String] = []
    var profile: [Int: String] = [:]
    var profileAppending: [String] = []
    var tokenMode: Int? = 0o600
    var expected: [String]

    var testDescription: String { name }
}

let allowedPlaceholders =
    "{reference}, {provider_invoice_id}, {total}, {currency}, {qr_code_image_url}, {trade_no}, {machine_id}"

let brokenCases: [BrokenCase] = [
    BrokenCase(
        name: "misspelt key, with the required key then missing",
        config: [6: #"base_ur = "https://drippay-dev.com/api/v1""#],
        expected: [
            #"$CONFIG:5: missing required key 'base_url' in [api]: the DripPay API, e.g. "https://drippay-dev.com/api/v1""#,
            "$CONFIG:6: unknown key 'base_ur' in [api] (did you mean 'base_url'?); allowed: base_url, token_file, request_timeout_s, status_requests_per_minute, requests_per_minute, ca_file, proxy",
        ]),
    BrokenCase(
        name: "unknown table",
        appending: ["[dispaly]", #"output = "png""#],
        expected: [
            "$CONFIG:20: unknown table [dispaly] (did you mean 'display'?); allowed tables: [api], [serial], [controller], [qibixx], [vend], [display], [qr], [journal], [metrics], [support]"
        ]),
    BrokenCase(
        name: "integer written as a string",
        config: [10: #"payment_timeout_s = "90""#],
        expected: [#"$CONFIG:10: vend.payment_timeout_s must be an integer, got a string ("90"); remove the quotes"#]),
    BrokenCase(
        name: "float where an integer belongs",
        config: [10: "payment_timeout_s = 90.5"],
        expected: ["$CONFIG:10: vend.payment_timeout_s must be an integer, got a float (90.5)"]),
    BrokenCase(
        name: "requests per minute above the API limit",
        config: [8: "requests_per_minute = 120"],
        expected: ["$CONFIG:8: api.requests_per_minute must be between 1 and 60, got 120"]),
    BrokenCase(
        name: "status requests per minute of zero",
        config: [8: "status_requests_per_minute = 0"],
        expected: ["$CONFIG:8: api.status_requests_per_minute must be between 1 and 600, got 0"]),
    BrokenCase(
        name: "a CA file that does not exist",
        config: [8: #"ca_file = "private-ca.pem""#],
        expected: [
            #"$CONFIG:8: api.ca_file "$DIR/private-ca.pem" does not exist; give the PEM file of the CA that signed the API's certificate"#
        ]),
    BrokenCase(
        name: "a CA file that holds no certificate",
        config: [8: #"ca_file = "token""#],
        expected: [
            #"$CONFIG:8: api.ca_file "$DIR/token" holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the PEM file of the CA that signed the API's certificate"#
        ]),
    BrokenCase(
        name: "a proxy without a scheme",
        config: [8: #"proxy = "proxy.example:3128""#],
        expected: [
            #"$CONFIG:8: api.proxy "proxy.example:3128" is not a URL; give scheme, host and port, e.g. "http://proxy.example:3128", or "" for no proxy"#
        ]),
    BrokenCase(
        name: "a proxy with a scheme libcurl has no proxy for, its password not repeated",
        config: [8: #"proxy = "ftp://user:secret@proxy.example:21""#],
        expected: [
            #"$CONFIG:8: api.proxy "ftp://***@proxy.example:21": scheme 'ftp' is not a proxy scheme (http, https, socks4, socks4a, socks5, socks5h), e.g. "http://proxy.example:3128", or "" for no proxy"#
        ]),
    BrokenCase(
        name: "a proxy with a path",
        config: [8: #"proxy = "http://proxy.example:3128/api""#],
        expected: [
            #"$CONFIG:8: api.proxy "http://proxy.example:3128/api" must not have a path, query or fragment; give scheme, host and port, e.g. "http://proxy.example:3128", or "" for no proxy"#
        ]),
    BrokenCase(
        name: "non-standard baud rate",
        appending: ["[serial]", "baud = 115201"],
        expected: [
            "$CONFIG:21: serial.baud must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600; got 115201"
        ]),
    BrokenCase(
        name: "data bits out of range in the profile",
        profile: [4: "data_bits = 9"],
        expected: ["$PROFILE:4: serial.data_bits must be between 5 and 8, got 9"]),
    BrokenCase(
        name: "unknown parity",
        appending: ["[serial]", #"parity = "evn""#],
        expected: [#"$CONFIG:21: serial.parity must be one of "none", "odd", "even", "mark", "space"; got "evn""#]),
    BrokenCase(
        name: "unknown protocol in the profile",
        profile: [6: #"protocol = "mdb""#],
        expected: [#"$PROFILE:6: controller.protocol must be one of "qibixx-mdb", "vmc-line"; got "mdb""#]),
    BrokenCase(
        name: "unknown qibixx session mode",
        profileAppending: ["[qibixx]", #"session_mode = "idle""#],
        expected: [#"$PROFILE:12: qibixx.session_mode must be one of "always-idle", "start-session"; got "idle""#]),
    BrokenCase(
        name: "qibixx decimal places beyond the adapter's range",
        appending: ["[qibixx]", "decimal_places = 4"],
        expected: ["$CONFIG:21: qibixx.decimal_places must be between 0 and 3, got 4"]),
    BrokenCase(
        name: "qibixx scale factor zero",
        appending: ["[qibixx]", "scale_factor = 0"],
        expected: ["$CONFIG:21: qibixx.scale_factor must be between 1 and 100, got 0"]),
    BrokenCase(
        name: "qibixx vend timeout quoted",
        appending: ["[qibixx]", #"vend_timeout_s = "60""#],
        expected: [#"$CONFIG:21: qibixx.vend_timeout_s must be an integer, got a string ("60"); remove the quotes"#]),
    BrokenCase(
        name: "missing machine_id",
        config: [1: "# no machine_id here"],
        expected: ["$CONFIG:1: missing required key 'machine_id': the machine's id, sent to the API as machine_id"]),
    BrokenCase(
        name: "empty machine_id",
        config: [1: #"machine_id = """#],
        expected: [#"$CONFIG:1: machine_id must be 1 to 64 printable characters, got """#]),
    BrokenCase(
        name: "serial device in neither file",
        profile: [2: "# the device is left to the config"],
        expected: [
            #"$CONFIG:1: missing required key 'device' in [serial]: the serial device, e.g. "/dev/ttyAMA0"; usually set by the hardware profile"#
        ]),
    BrokenCase(
        name: "unknown currency",
        config: [3: #"currency = "XYZ""#],
        expected: [#"$CONFIG:3: unknown currency "XYZ"; use an ISO 4217 code such as USD, EUR, GBP, CHF, JPY"#]),
    BrokenCase(
        name: "currency in lower case",
        config: [3: #"currency = "usd""#],
        expected: [
            #"$CONFIG:3: unknown currency "usd" (write it in capitals: "USD"); use an ISO 4217 code such as USD, EUR, GBP, CHF, JPY"#
        ]),
    BrokenCase(
        name: "profile not found",
        config: [2: #"profile = "no-such-hat""#],
        expected: [
            #"$CONFIG:2: hardware profile "no-such-hat" not found; looked for $DIR/hardware-profiles/no-such-hat.toml"#
        ]),
    BrokenCase(
        name: "profile path that does not exist",
        config: [2: #"profile = "profiles/missing.toml""#],
        expected: ["$CONFIG:2: hardware profile file $DIR/profiles/missing.toml does not exist"]),
    BrokenCase(
        name: "plain http to a public host",
        config: [6: #"base_url = "http://drippay-dev.com/api/v1""#],
        expected: [
            #"$CONFIG:6: api.base_url "http://drippay-dev.com/api/v1" uses http:// to a host that is not loopback; use https:// (http is allowed only for localhost, 127.0.0.0/8 and ::1)"#
        ]),
    BrokenCase(
        name: "base URL without a scheme",
        config: [6: #"base_url = "drippay-dev.com/api/v1""#],
        expected: [
            #"$CONFIG:6: api.base_url "drippay-dev.com/api/v1" is not a URL; give scheme, host and path, e.g. "https://drippay-dev.com/api/v1""#
        ]),
    BrokenCase(
        name: "token file readable by its group",
        tokenMode: 0o640,
        expected: [
            "$CONFIG:7: api.token_file: token file $DIR/token is readable by its group (mode 0640); run `chmod 600 $DIR/token`"
        ]),
    BrokenCase(
        name: "token file readable by everyone",
        tokenMode: 0o644,
        expected: [
            "$CONFIG:7: api.token_file: token file $DIR/token is readable by group and others (mode 0644); run `chmod 600 $DIR/token`"
        ]),
    BrokenCase(
        name: "token file missing",
        tokenMode: nil,
        expected: [
            #"$CONFIG:7: api.token_file: token file $DIR/token does not exist; put the API token ("{id}|{secret}") in it and run `chmod 600 $DIR/token`"#
        ]),
    BrokenCase(
        name: "payment timeout not below the machine's",
        config: [10: "payment_timeout_s = 120"],
        expected: [
            "$CONFIG:10: vend.payment_timeout_s (120) must be below controller.machine_timeout_s (120) ($PROFILE:7): the machine gives up on a vend after 120 s, so the QR must come down first"
        ]),
    BrokenCase(
        name: "unknown placeholder in the QR payload",
        config: [16: #"payload = "https://pay.example.com/i/{refrence}""#],
        expected: ["$CONFIG:16: qr.payload has an unknown placeholder {refrence}; allowed: \(allowedPlaceholders)"]),
    BrokenCase(
        name: "template QR source without a payload",
        config: [16: #"source = "template""#],
        expected: [
            #"$CONFIG:15: missing required key 'payload' in [qr]: the text in the QR code when qr.source = "template", e.g. "https://pay.example.com/i/{reference}""#
        ]),
    BrokenCase(
        name: "unknown QR source",
        config: [17: #"source = "image""#],
        expected: [#"$CONFIG:17: qr.source must be one of "invoice-image", "template"; got "image""#]),
    BrokenCase(
        name: "negative QR refresh period",
        config: [17: "refresh_s = -1"],
        expected: ["$CONFIG:17: qr.refresh_s must be between 0 and 3600, got -1"]),
    BrokenCase(
        name: "planogram key that is not a product code",
        config: [13: #""5 A" = "Soda""#],
        expected: [#"$CONFIG:13: [vend.items] key "5 A" is not a product code (1 to 16 of A-Z a-z 0-9 _ -)"#]),
    BrokenCase(
        name: "planogram item without a description",
        config: [13: #""5" = """#],
        expected: [#"$CONFIG:13: vend.items."5" has an empty description; give the product name shown on the invoice"#]),
    BrokenCase(
        name: "TOML syntax error",
        config: [10: "payment_timeout_s ="],
        expected: ["$CONFIG:10: missing value after '='"]),
    BrokenCase(
        name: "duplicate key",
        config: [11: "payment_timeout_s = 60"],
        expected: ["$CONFIG:11: duplicate key 'payment_timeout_s' (first set on line 10); keep one of them"]),
    BrokenCase(
        name: "duplicate table",
        appending: ["[qr]"],
        expected: ["$CONFIG:20: table [qr] is defined twice (first on line 15); merge the two sections"]),
    BrokenCase(
        name: "unknown key in the profile",
        profile: [8: "speed = 9600"],
        expected: ["$PROFILE:8: unknown key 'speed' in [controller]; allowed: protocol, machine_timeout_s"]),
    BrokenCase(
        name: "API settings in a profile",
        profileAppending: ["[api]", #"base_url = "https://other.example/api/v1""#],
        expected: ["$PROFILE:11: [api] cannot be set in a hardware profile; set it in the config file"]),
    BrokenCase(
        name: "incomplete framebuffer geometry",
        appending: ["[display]", "width = 480"],
        expected: [
            "$CONFIG:21: [display] width, height and bits_per_pixel go together (a plain-file framebuffer); missing: height, bits_per_pixel"
        ]),
    BrokenCase(
        name: "several problems in both files, sorted by file then line",
        config: [3: #"currency = "XYZ""#, 10: "payment_timeout_s = 0"],
        profile: [3: "baud = 1"],
        expected: [
            "$PROFILE:3: serial.baud must be one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600; got 1",
            #"$CONFIG:3: unknown currency "XYZ"; use an ISO 4217 code such as USD, EUR, GBP, CHF, JPY"#,
            "$CONFIG:10: vend.payment_timeout_s must be between 1 and 3600, got 0",
        ]),
]

@Suite("Broken configs")
struct BrokenConfigTests {
    @Test(arguments: brokenCases)
    func brokenConfigIsReportedWithFileLineAndMessage(_ c: BrokenCase) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(
            config: c.config, appending: c.appending, profile: c.profile, profileAppending: c.profileAppending,
            tokenMode: c.tokenMode)
        #expect(fixture.problemLines() == c.expected)
    }

    @Test func thereAreAtLeastFifteenDistinctBrokenCases() {
        #expect(Set(brokenCases.map(\.name)).count >= 15)
        #expect(Set(brokenCases.map(\.expected)).count == brokenCases.count)
    }

}
