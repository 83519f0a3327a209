import Foundation
import KioskCore
import Testing

@testable import KioskConfig

@Suite("Token loader")
struct TokenLoaderTests {
    @Test(arguments: [0o600, 0o400])
    func privateTokenFileIsLoadedAndTrimmed(_ mode: Int) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken("  12|abcdefSECRET \n", mode: mode)
        let token = try TokenLoader.load(tokenFile: fixture.tokenFile, environment: [:])
        #expect(token.bearerValue == "12|abcdefSECRET")
    }

    @Test(arguments: [(0o640, "its group"), (0o604, "others"), (0o644, "group and others"), (0o660, "its group")])
    func tokenFileReadableByOthersIsRefusedNamingTheMode(_ mode: Int, _ who: String) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken("12|abcdefSECRET", mode: mode)
        #expect(throws: TokenError.tooOpen(file: fixture.tokenFile, mode: mode)) {
            try TokenLoader.load(tokenFile: fixture.tokenFile, environment: [:])
        }
        let error = TokenError.tooOpen(file: fixture.tokenFile, mode: mode)
        #expect(error.description.contains("readable by \(who) (mode 0\(String(mode, radix: 8)))"))
        #expect(error.description.contains("chmod 600 \(fixture.tokenFile)"))
    }

    @Test func credentialsDirectoryWinsOverTheConfiguredFile() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken("1|fromFILEvalue", mode: 0o600)
        let credentials = fixture.dir + "/creds"
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        // systemd's own file: its mode is systemd's business, so a 0444 one is still taken.
        try fixture.writeToken("2|fromCREDENTIAL\n", mode: 0o444, at: credentials + "/drippay-token")
        let token = try TokenLoader.load(
            tokenFile: fixture.tokenFile, environment: ["CREDENTIALS_DIRECTORY": credentials])
        #expect(token.bearerValue == "2|fromCREDENTIAL")
    }

    @Test func credentialsDirectoryWithoutTheCredentialFallsBackToTheFile() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken("1|fromFILEvalue", mode: 0o600)
        let token = try TokenLoader.load(
            tokenFile: fixture.tokenFile, environment: ["CREDENTIALS_DIRECTORY": fixture.dir + "/none"])
        #expect(token.bearerValue == "1|fromFILEvalue")
    }

    @Test func missingTokenFileIsNamed() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        #expect(throws: TokenError.missing(file: fixture.tokenFile)) {
            try TokenLoader.load(tokenFile: fixture.tokenFile, environment: [:])
        }
    }

    @Test(arguments: [
        ("justasecretwithoutbar", "no '|' between id and secret"), ("|secretONLY", "the id before '|' is empty"),
        ("12|", "the secret after '|' is empty"), ("", "the file is empty"),
        ("12|abc def", "it contains spaces or control characters, or more than one line"),
        ("12|abc\n13|def", "it contains spaces or control characters, or more than one line"),
    ])
    func malformedTokenIsRefusedWithoutShowingIt(_ contents: String, _ problem: String) throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken(contents, mode: 0o600)
        do {
            _ = try TokenLoader.load(tokenFile: fixture.tokenFile, environment: [:])
            Issue.record("a malformed token was accepted")
        } catch {
            #expect(error == .malformed(file: fixture.tokenFile, problem: problem))
            for piece in contents.split(whereSeparator: { $0 == "|" || $0 == " " || $0 == "\n" }) where piece.count > 3
            {
                #expect(!error.description.contains(piece), "the message shows part of the token")
            }
        }
    }

    @Test func directoryInsteadOfATokenFileIsUnreadable() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        #expect(throws: TokenError.unreadable(file: fixture.dir, reason: "it is a directory")) {
            try TokenLoader.load(tokenFile: fixture.dir, environment: [:])
        }
    }

    @Test func configurationLoadsItsOwnToken() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write()
        guard case .success(let config) = fixture.load() else {
            Issue.record("the fixture config did not load")
            return
        }
        #expect(try config.loadToken(environment: [:]).bearerValue == "12|s3cretTokenValue")
    }

    @Test func tokenDescriptionIsRedacted() throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken("12|abcdefSECRET", mode: 0o600)
        let token = try TokenLoader.load(tokenFile: fixture.tokenFile, environment: [:])
        #expect("\(token)" == "<redacted>")
    }
}
