import Foundation
import KioskTestSupport
import Testing

@testable import KioskConfig

/// The built `drippay-kiosk` next to the test bundle (`swift test` builds every product).
private func kioskExecutable() -> String? {
    BuiltExecutable.kiosk(repositoryRoot: repositoryRoot)
}

private struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the executable with a bounded wait so that a hang fails the test instead of the suite.
private func runKiosk(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
    let executable = try #require(
        kioskExecutable(), "drippay-kiosk is not built next to the tests; run `swift build` first")
    var env = ProcessInfo.processInfo.environment
    env["CREDENTIALS_DIRECTORY"] = nil
    env["DRIPPAY_KIOSK_CONFIG"] = nil
    for (k, v) in environment { env[k] = v }
    let result = try await ChildProcess.run(executable, arguments, environment: env, timeout: .seconds(30))
    if result.timedOut { Issue.record("drippay-kiosk \(arguments.joined(separator: " ")) did not finish within 30 s") }
    return Outcome(status: result.status, stdout: result.stdout, stderr: result.stderr)
}

@Suite("check-config command")
struct CheckConfigCommandTests {
    @Test func invalidConfigPrintsFileLineProblemsAndExits78() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write(config: [3: #"currency = "XYZ""#, 8: "requests_per_minute = 61"])
        let outcome = try await runKiosk(["check-config", "--config", fixture.configFile])
        #expect(outcome.status == 78)
        #expect(
            outcome.stdout == """
                \(fixture.configFile):3: unknown currency "XYZ"; use an ISO 4217 code such as USD, EUR, GBP, CHF, JPY
                \(fixture.configFile):8: api.requests_per_minute must be between 1 and 60, got 61

                """)
        #expect(outcome.stderr.contains("2 problems in \(fixture.configFile)"))
    }

    @Test func validConfigPrintsASummaryAndExits0() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.write()
        let outcome = try await runKiosk(["check-config"], environment: ["DRIPPAY_KIOSK_CONFIG": fixture.configFile])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.hasPrefix("\(fixture.configFile): OK\n"))
        #expect(outcome.stdout.contains("profile:    test-hat -> \(fixture.profileFile)"))
        #expect(outcome.stdout.contains("controller: qibixx-mdb on /dev/ttyAMA0"))
        #expect(outcome.stdout.contains("token:      \(fixture.tokenFile)"))
    }

    @Test func shippedExampleIsAcceptedByTheCommandWithACredential() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        try fixture.writeToken("12|exampletoken", mode: 0o400, at: fixture.dir + "/drippay-token")
        let outcome = try await runKiosk(
            ["check-config", "--config", repositoryRoot + "/examples/kiosk.toml"],
            environment: ["CREDENTIALS_DIRECTORY": fixture.dir])
        #expect(outcome.status == 0, "\(outcome.stdout)\(outcome.stderr)")
        #expect(outcome.stdout.contains("token:      systemd credential \(fixture.dir)/drippay-token"))
    }
}
