import Foundation
import KioskTestSupport
import Testing

/// The shipped unit must pass `systemd-analyze verify` and score 2.5 or lower (lower is safer) in
/// `systemd-analyze security`. Both need the systemd package (scripts/deps installs it).
@Suite struct SystemdUnitTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The unit with its binary path pointed at one that exists here, since verify checks it.
    func installedCopy() throws -> URL {
        let unit = try String(
            contentsOf: Self.repoRoot.appendingPathComponent("systemd/drippay-kiosk.service"), encoding: .utf8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiosk-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let copy = dir.appendingPathComponent("drippay-kiosk.service")
        try unit.replacingOccurrences(of: "/usr/bin/drippay-kiosk", with: "/bin/true").write(
            to: copy, atomically: true, encoding: .utf8)
        return copy
    }

    func systemdAnalyze(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await ChildProcess.run("/usr/bin/systemd-analyze", arguments, timeout: .seconds(60))
        return (result.status, result.stdout + result.stderr)
    }

    @Test func unitVerifiesCleanly() async throws {
        let copy = try installedCopy()
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        let result = try await systemdAnalyze(["verify", copy.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.isEmpty, "systemd-analyze verify printed: \(result.output)")
    }

    @Test func unitExposureIsAtMostTwoPointFive() async throws {
        let copy = try installedCopy()
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        let result = try await systemdAnalyze(["security", "--offline=true", "--no-pager", copy.path])
        let line = try #require(result.output.split(separator: "\n").last { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        #expect(score <= 2.5, "\(line)")
    }

    @Test func unitHasTheOperationalSettingsTheSpecRequires() throws {
        let unit = try String(
            contentsOf: Self.repoRoot.appendingPathComponent("systemd/drippay-kiosk.service"), encoding: .utf8)
        for setting in [
            "Type=notify", "Restart=on-failure", "RestartPreventExitStatus=78", "StateDirectory=drippay-kiosk",
            "LoadCredential=drippay-token:", "ProtectSystem=strict", "NoNewPrivileges=yes",
            "DeviceAllow=/dev/ttyAMA0 rw",
            "DeviceAllow=char-fb rw", "SystemCallFilter=@system-service", "DeviceAllow=char-ttyS rw",
            "DeviceAllow=/dev/tty0 rw", "AmbientCapabilities=CAP_SYS_TTY_CONFIG",
        ] {
            #expect(unit.contains("\n" + setting), "missing \(setting)")
        }
        // RestartPreventExitStatus= covers the main process only: a config check as ExecStartPre
        // exiting 78 was restarted forever. `run` checks the config itself.
        #expect(
            !unit.contains("\nExecStartPre="),
            "an ExecStartPre failure is restarted despite RestartPreventExitStatus=78")
        #expect(unit.range(of: #"\nWatchdogSec=\d+"#, options: .regularExpression) != nil)
    }
}
