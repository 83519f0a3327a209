import Foundation
import Testing

@testable import KioskConfig

/// A private temp directory with a config file, a profile next to it and a token file.
/// Each test gets its own, so tests run in parallel without sharing files.
struct Fixture {
    let dir: String

    init() throws {
        dir =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("drippay-config-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/hardware-profiles", withIntermediateDirectories: true)
    }

    var configFile: String { dir + "/kiosk.toml" }
    var profileFile: String { dir + "/hardware-profiles/test-hat.toml" }
    var tokenFile: String { dir + "/token" }

    /// The base config, one entry per line (line N is `baseConfig[N - 1]`). Blank lines leave
    /// room for edits that keep every other line number.
    static let baseConfig = [
        #"machine_id = "VVM-005""#,  // 1
        #"profile = "test-hat""#,  // 2
        #"currency = "USD""#,  // 3
        "",  // 4
        "[api]",  // 5
        #"base_url = "https://drippay-dev.com/api/v1""#,  // 6
        #"token_file = "token""#,  // 7
        "",  // 8
        "[vend]",  // 9
        "payment_timeout_s = 90",  // 10
        "",  // 11
        "[vend.items]",  // 12
        #""5" = "Soda""#,  // 13
        "",  // 14
        "[qr]",  // 15
        #"payload = "https://pay.example.com/i/{reference}""#,  // 16
        "",  // 17
        "[journal]",  // 18
        #"path = "journal.sqlite""#,  // 19
    ]

    static let baseProfile = [
        "[serial]",  // 1
        #"device = "/dev/ttyAMA0""#,  // 2
        "baud = 115200",  // 3
        "",  // 4
        "[controller]",  // 5
        #"protocol = "qibixx-mdb""#,  // 6
        "machine_timeout_s = 120",  // 7
        "",  // 8
        "[display]",  // 9
        #"output = "png""#,  // 10
    ]

    static func text(_ lines: [String], edits: [Int: String], appending: [String]) -> String {
        var lines = lines
        for (line, text) in edits { lines[line - 1] = text }
        return (lines + appending).joined(separator: "\n") + "\n"
    }

    /// Writes the config, the profile and a mode-600 token file.
    func write(
        config edits: [Int: String] = [:], appending: [String] = [], profile profileEdits: [Int: String] = [:],
        profileAppending: [String] = [], tokenMode: Int? = 0o600
    ) throws {
        try Fixture.text(Fixture.baseConfig, edits: edits, appending: appending)
            .write(toFile: configFile, atomically: true, encoding: .utf8)
        try Fixture.text(Fixture.baseProfile, edits: profileEdits, appending: profileAppending)
            .write(toFile: profileFile, atomically: true, encoding: .utf8)
        if let tokenMode {
            try writeToken("12|s3cretTokenValue\n", mode: tokenMode)
        }
    }

    func writeToken(_ text: String, mode: Int, at path: String? = nil) throws {
        let path = path ?? tokenFile
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// Loads the fixture's config with no credentials directory and no search paths beyond
    /// the `hardware-profiles` directory next to it.
    func load(environment: [String: String] = [:]) -> Result<KioskConfiguration, ConfigProblems> {
        ConfigLoader.load(configFile: configFile, environment: environment, profileSearchPaths: [])
    }

    /// The problems as `FILE:LINE: message`, with the fixture's paths written as $CONFIG,
    /// $PROFILE and $DIR so that expectations read like the output.
    func problemLines(environment: [String: String] = [:]) -> [String] {
        switch load(environment: environment) {
        case .success: return []
        case .failure(let problems):
            return problems.problems.map {
                $0.description.replacingOccurrences(of: configFile, with: "$CONFIG")
                    .replacingOccurrences(of: profileFile, with: "$PROFILE")
                    .replacingOccurrences(of: dir, with: "$DIR")
            }
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

/// The repository root (this file is Tests/KioskConfigTests/Fixtures.swift).
let repositoryRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
