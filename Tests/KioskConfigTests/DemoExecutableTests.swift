import Foundation
import KioskTestSupport
import Testing

/// The demo and the API sandbox are a second executable, `drippay-kiosk-demo`; the daemon
/// `drippay-kiosk` (what the Debian package ships) links neither and hands `demo` / `sandbox` on.
@Suite("drippay-kiosk-demo, apart from the daemon")
struct DemoExecutableTests {
    private func built() throws -> (kiosk: String, demo: String) {
        let kiosk = try #require(
            BuiltExecutable.kiosk(repositoryRoot: repositoryRoot),
            "drippay-kiosk is not built next to the tests; run `swift build` first")
        let demo = URL(fileURLWithPath: kiosk).deletingLastPathComponent().appendingPathComponent("drippay-kiosk-demo")
        try #require(
            FileManager.default.isExecutableFile(atPath: demo.path),
            "drippay-kiosk-demo is not built beside \(kiosk); run `swift build` first")
        return (kiosk, demo.path)
    }

    /// How many symbols of a Swift module the binary defines (Swift's mangled names carry the
    /// module's name with its length: `$s14DripPaySandbox...`).
    private func symbols(of module: String, in binary: String) async throws -> Int {
        let result = try await ChildProcess.run(
            "/bin/sh",
            ["-c", "nm --defined-only \"$0\" | grep -c '\\$s\(module.utf8.count)\(module)' || true", binary],
            timeout: .seconds(60))
        #expect(result.status == 0, "nm on \(binary): \(result.stderr)")
        return try #require(Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(result.stdout)")
    }

    @Test func theDaemonLinksNoSandboxSimulatorOrDemoSymbols() async throws {
        let (kiosk, demo) = try built()
        for module in ["DripPaySandbox", "ControllerSimulator", "KioskDemo"] {
            #expect(try await symbols(of: module, in: kiosk) == 0, "drippay-kiosk links \(module)")
            // The same count finds them where they are linked: the grep is not blind.
            #expect(try await symbols(of: module, in: demo) > 0, "drippay-kiosk-demo lacks \(module)")
        }
        #expect(try await symbols(of: "KioskDaemon", in: kiosk) > 0)
    }

    @Test func inABuildTreeTheDaemonsSandboxCommandRunsTheDemoExecutable() async throws {
        let (kiosk, _) = try built()
        // The option is checked by drippay-kiosk-demo's own `sandbox` command.
        let result = try await ChildProcess.run(kiosk, ["sandbox", "--quote-seconds", "0"], timeout: .seconds(30))
        #expect(result.status == 64)
        #expect(result.stderr.contains("--quote-seconds must be at least 1, got 0"), "\(result.stderr)")
    }

    @Test func withoutTheDemoExecutableDemoSaysWhereItIsAndExits69() async throws {
        let (kiosk, _) = try built()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "kiosk-alone-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let alone = directory.appendingPathComponent("drippay-kiosk").path
        try FileManager.default.copyItem(atPath: kiosk, toPath: alone)
        let result = try await ChildProcess.run(alone, ["demo"], timeout: .seconds(30))
        #expect(result.status == 69)
        #expect(
            result.stderr.contains(
                "drippay-kiosk demo: not part of the daemon's package. The demo and the API sandbox are the separate "
                    + "executable drippay-kiosk-demo, built from the source tree: run `scripts/demo` there"),
            "\(result.stderr)")
        #expect(result.stderr.contains("No drippay-kiosk-demo beside \(alone)"), "\(result.stderr)")
    }
}
