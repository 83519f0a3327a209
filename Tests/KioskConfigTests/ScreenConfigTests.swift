import Foundation
import KioskCore
import Testing

@testable import KioskConfig

/// `[display] language`, `[display.texts]` and `[support]`: read, merged and checked like every key.
@Suite("Screen language and support config")
struct ScreenConfigTests {
    static let allowedTexts = ScreenTextKey.allCases.map(\.rawValue).joined(separator: ", ")

    func loaded(_ result: Result<KioskConfiguration, ConfigProblems>) throws -> KioskConfiguration {
        switch result {
        case .success(let config): return config
        case .failure(let problems): throw problems
        }
    }

    @Test("the language, the overrides and the support contact are read; the config's text wins over the profile's")
    func read() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(
            appending: [
                "[display]", #"language = "de""#, "", "[display.texts]", #"idle_message = "Bitte wählen""#,
                #"time_left = "Noch {time}""#, "", "[support]", #"contact = "+1 555 0100 · help@example.com""#,
                #"url = "https://help.example.com/refund?ref={customer_reference}""#, "notice_s = 45",
            ],
            profileAppending: ["[display.texts]", #"idle_message = "Profile words""#, #"scan_to_pay = "Scannen""#])
        let config = try loaded(fixture.load())
        #expect(config.display.output == .png, "the profile's [display] keys still apply")
        #expect(config.display.texts.language == .de)
        #expect(
            config.display.texts.overrides == [
                .idleMessage: "Bitte wählen", .timeLeft: "Noch {time}", .scanToPay: "Scannen",
            ])
        #expect(
            config.support
                == SupportOptions(
                    contact: "+1 555 0100 · help@example.com",
                    url: "https://help.example.com/refund?ref={customer_reference}", noticeSeconds: 45))
        #expect(
            config.support.url(for: TradeNo("T-1").customerReference) == "https://help.example.com/refund?ref=6MA-WFR")
        #expect(config.summary.contains("language de, 3 text(s) overridden"))
        #expect(config.summary.contains("support:    +1 555 0100 · help@example.com"))
    }

    @Test("without the keys: English, shipped texts, no contact, 30 s")
    func defaults() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write()
        let config = try loaded(fixture.load())
        #expect(config.display.texts == ScreenTexts(language: .en, overrides: [:]))
        #expect(config.support == SupportOptions())
    }

    @Test(
        "each broken key is reported at its file and line",
        arguments: [
            (
                ["[display]", #"language = "sv""#],
                [
                    #"$CONFIG:21: display.language must be one of "en", "de", "fr", "es", "pt", "it", "nl", "pl"; got "sv""#
                ]
            ),
            (
                ["[display.texts]", #"idle_mesage = "Hi""#],
                [
                    "$CONFIG:21: unknown key 'idle_mesage' in [display.texts] (did you mean 'idle_message'?); allowed: \(allowedTexts)"
                ]
            ),
            (
                ["[display.texts]", #"time_left = "Noch {tim}""#],
                ["$CONFIG:21: display.texts.time_left uses unknown placeholder(s) {tim}; this text takes {time}"]
            ),
            (
                ["[display.texts]", #"idle_message = "Hi {product}""#],
                [
                    "$CONFIG:21: display.texts.idle_message uses unknown placeholder(s) {product}; this text takes no placeholders"
                ]
            ),
            (
                ["[display.texts]", "idle_message = 5"],
                ["$CONFIG:21: display.texts.idle_message must be a string, got an integer (5); put it in quotes"]
            ),
            (
                ["[display.texts]", #"idle_message = " ""#],
                [
                    "$CONFIG:21: display.texts.idle_message is empty; give the words to show, or remove the line for the shipped text"
                ]
            ),
            (
                ["[display]", #"texts = "de""#],
                [#"$CONFIG:21: display.texts must be a table ([display.texts] with key = "text" lines), not a string"#]
            ),
            (
                ["[support]", #"url = "help.example.com""#],
                [
                    #"$CONFIG:21: support.url "help.example.com" is not an http(s) URL; give the help page a phone opens, e.g. "https://help.example.com/refund?ref={customer_reference}""#
                ]
            ),
            (
                ["[support]", #"url = "https://help.example.com/{reference}""#],
                [
                    #"$CONFIG:21: support.url "https://help.example.com/{reference}" uses an unknown placeholder; only {customer_reference} is filled in (e.g. "https://help.example.com/refund?ref={customer_reference}")"#
                ]
            ),
            (
                ["[support]", "notice_s = 1"],
                ["$CONFIG:21: support.notice_s must be between 5 and 600, got 1"]
            ),
            (
                ["[support]", #"contact = """#],
                [
                    #"$CONFIG:21: support.contact must be one line of printable text, e.g. "+1 555 0100 · help@example.com"; got """#
                ]
            ),
            (
                ["[suport]", #"contact = "x""#],
                [
                    "$CONFIG:20: unknown table [suport] (did you mean 'support'?); allowed tables: [api], [serial], [controller], [qibixx], [vend], [display], [qr], [journal], [metrics], [support]"
                ]
            ),
        ])
    func broken(appending: [String], expected: [String]) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(appending: appending)
        #expect(fixture.problemLines() == expected)
    }
}
