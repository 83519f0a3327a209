import Foundation
import KioskCore
import Testing

extension KioskIntegration {
    /// Issue 14: a technician's `run` beside the running service must not answer the controller
    /// nor settle sessions; `journal` and `check-config` keep working beside it.
    @Suite("A second daemon")
    struct SecondInstanceTests {
        @Test(
            "a second run on the same journal exits at once naming the running one; journal and check-config still work"
        )
        func aSecondRunOnTheSameJournalExitsNamingTheFirst() async throws {
            try await withKioskRig { rig in
                try await rig.startDaemonAndWaitUntilReady()
                let first = try #require(await rig.daemon?.pid)
                let second = try await runKioskCommand(["run", "--config", rig.configPath], timeout: .seconds(20))
                #expect(!second.timedOut, "the second run did not exit at once")
                #expect(second.status != 0)
                #expect(second.stderr.contains("in use by another drippay-kiosk"), "\(second.stderr)")
                #expect(second.stderr.contains("pid \(first)"), "names the running daemon: \(second.stderr)")
                let list = try await runKioskCommand(["journal", "--config", rig.configPath, "list"])
                #expect(list.status == 0, "journal beside the daemon: \(list.stderr)")
                let check = try await runKioskCommand(["check-config", "--config", rig.configPath])
                #expect(check.status == 0, "check-config beside the daemon: \(check.stderr)")
                // The first daemon still serves the controller.
                #expect(try await rig.hello() == "READY")
                let answer = try await rig.send("VEND one1 5 1.50", thenWaitFor: "ACCEPT/DENY one1") {
                    $0 == "ACCEPT one1" || $0.hasPrefix("DENY one1 ")
                }
                #expect(answer == "ACCEPT one1")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }

        @Test("a second run on another journal but the same serial device exits naming the process holding the device")
        func aSecondRunOnTheSameSerialDeviceExitsNamingTheFirst() async throws {
            try await withKioskRig { rig in
                try await rig.startDaemonAndWaitUntilReady()
                let first = try #require(await rig.daemon?.pid)
                let otherConfig = rig.directory + "/other.toml"
                let text = rig.configText().replacingOccurrences(
                    of: "path = \"\(rig.journalPath)\"", with: "path = \"\(rig.directory)/other-journal.sqlite\"")
                try text.write(toFile: otherConfig, atomically: true, encoding: .utf8)
                let second = try await runKioskCommand(["run", "--config", otherConfig], timeout: .seconds(20))
                #expect(!second.timedOut, "the second run did not exit at once")
                #expect(second.status != 0)
                #expect(second.stderr.contains("is in use by"), "\(second.stderr)")
                #expect(second.stderr.contains("pid \(first) ("), "names the running daemon: \(second.stderr)")
                #expect(try await rig.hello() == "READY")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }
    }
}
