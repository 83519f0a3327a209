import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskConfig
import KioskCore
import Testing

/// Every integration suite hangs under this one so that they run one after another: each spawns a
/// daemon with second-scale deadlines, and a shared 2-core CI box must not starve them.
@Suite("Kiosk integration", .serialized)
enum KioskIntegration {}

extension KioskIntegration {
    /// The rig itself: what it wires up must be what the daemon is told.
    @Suite("Rig")
    struct RigTests {
        @Test("the rig's config loads cleanly and points the daemon at the sandbox, the simulator and the temp journal")
        func rigConfigIsValidAndWiredToTheRig() async throws {
            try await withKioskRig { rig in
                let config = try ConfigLoader.load(configFile: rig.configPath, environment: [:]).get()
                #expect(config.machineID == "ITEST-01")
                #expect(config.api.baseURL == rig.baseURL)
                #expect(config.api.tokenFile == rig.tokenPath)
                #expect(config.serial.device == rig.simulator.devicePath)
                #expect(config.controller.protocolKind == .vmcLine)
                #expect(config.display.output == .none)
                #expect(config.journal.path == rig.journalPath)
                #expect(config.vend.paymentTimeoutSeconds == 3)
                #expect(config.vend.resumeGraceSeconds == 2)
                #expect(config.vend.items[ProductCode("5")!] == "Soda")
                let token = try config.loadToken(environment: [:])
                let written = try String(contentsOfFile: rig.tokenPath, encoding: .utf8)
                #expect(token.bearerValue == written.trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }

        @Test("a line the simulated controller receives is seen by a positional wait, and not twice")
        func lineLogWaitsArePositional() async throws {
            try await withKioskRig { rig in
                // Talk to the simulator's pty from the daemon's side, as the daemon would.
                let fd = open(rig.simulator.devicePath, O_RDWR | O_NOCTTY)
                try #require(fd >= 0)
                defer { close(fd) }
                var raw = termios()
                tcgetattr(fd, &raw)
                cfmakeraw(&raw)
                tcsetattr(fd, TCSANOW, &raw)
                let bytes = Array("PONG\nPONG\nACCEPT 1\n".utf8)
                #expect(write(fd, bytes, bytes.count) == bytes.count)
                let first = try await rig.lines.first(from: 0, matching: "PONG", timeout: .seconds(5)) { $0 == "PONG" }
                let second = try await rig.lines.first(from: first.index + 1, matching: "PONG", timeout: .seconds(5)) {
                    $0 == "PONG"
                }
                #expect(first.index == 0)
                #expect(second.index == 1)
                _ = try await rig.expectLine("ACCEPT 1")
                await #expect(throws: RigError.self) {
                    try await rig.lines.first(from: 2, matching: "PONG", timeout: .milliseconds(100)) { $0 == "PONG" }
                }
            }
        }

        @Test("the drippay-kiosk executable is found next to the test bundle")
        func kioskBinaryIsFound() async throws {
            let result = try await runKioskCommand(["--help"])
            #expect(result.status == 0)
            #expect(result.stdout.contains("run"))
        }
    }
}
