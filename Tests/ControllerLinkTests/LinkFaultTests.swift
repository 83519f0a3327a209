import ControllerLink
import ControllerSimulator
import Foundation
import KioskCore
import KioskTestSupport
import Logging
import Testing

@Suite("ControllerLink faults and recovery")
struct LinkFaultTests {
    private static func isDown(_ event: LinkEvent) -> Bool { if case .down = event { true } else { false } }
    private static func isUp(_ event: LinkEvent) -> Bool { if case .up = event { true } else { false } }

    @Test func unplugReportsDownAndReplugRecovers() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            for round in 1...3 {
                await h.simulator.unplug()
                let reason = try await h.recorder.down()
                #expect(reason.contains(h.simulator.devicePath), "round \(round): \(reason)")
                await #expect(throws: LinkError.notConnected(device: h.simulator.devicePath)) {
                    try await h.link.send(.ready)
                }
                try await h.simulator.plug()
                try await h.recorder.up()
                // Traffic flows again in both directions.
                try await h.simulator.ping()
                #expect(try await h.recorder.controller() == .ping)
                try await h.link.send(.pong)
                try await h.simulator.waitForLine("PONG")
            }
        }
    }

    @Test func replugInOneStepIsNoticedAndRecovered() async throws {
        try await LinkHarness.with(.qibixxMDB) { h in
            try await h.recorder.up()
            try await h.simulator.replug()
            try await h.recorder.down()
            try await h.recorder.up()
            try await h.link.send(.ready)
            try await h.simulator.waitForLine("C,0")  // a reopened adapter is set up from scratch
            try await h.simulator.waitForLine("C,SETCONF,mdb-always-idle=1")
        }
    }

    @Test func deviceMissingAtStartAppearsLater() async throws {
        try await LinkHarness.with(.vmcLine, plugged: false) { h in
            let reason = try await h.recorder.down()
            #expect(reason.contains("does not exist"))
            #expect(reason.contains("drippay-kiosk ports"))
            await #expect(throws: LinkError.self) { try await h.link.send(.ready) }
            try await Task.sleep(for: .milliseconds(150))  // several retries happen meanwhile
            try await h.simulator.plug()
            try await h.recorder.up()
            try await h.simulator.hello()
            #expect(try await h.recorder.controller() == .hello(name: "sim-vmc", version: "1.0"))
        }
    }

    @Test func anOutageIsReportedAndLoggedOnceDespiteRetries() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            await h.simulator.unplug()
            try await h.recorder.down()
            try await Task.sleep(for: .milliseconds(300))  // ~10 retries at 10-80 ms
            #expect(await h.recorder.count(where: Self.isDown) == 1)
            let outageLogs = h.logs.messages(atLeast: .warning)
            #expect(outageLogs.count == 1, "\(outageLogs)")
            try await h.simulator.plug()
            try await h.recorder.up()
            #expect(h.logs.messages(atLeast: .notice).contains { $0.contains("back up") })
        }
    }

    @Test func cancellingRunFinishesTheEventStream() async throws {
        let h = try await LinkHarness.start(.vmcLine)
        try await h.recorder.up()
        h.task.cancel()
        _ = await h.task.result
        #expect(await h.link.isUp == false)
        await #expect(throws: LinkError.self) { try await h.link.send(.ready) }
        await h.simulator.shutdown()
    }

    @Test func backoffDoublesUpToTheCap() {
        let backoff = ControllerLink.Backoff.standard
        #expect(backoff.delay(afterFailures: 1) == .milliseconds(100))
        #expect(backoff.delay(afterFailures: 2) == .milliseconds(200))
        #expect(backoff.delay(afterFailures: 4) == .milliseconds(800))
        #expect(backoff.delay(afterFailures: 7) == .seconds(5))
        #expect(backoff.delay(afterFailures: 1000) == .seconds(5))
    }

    @Test func openingAMissingPathNamesTheDeviceAndWhatToDo() {
        let path = "/dev/drippay-no-such-device-\(UInt32.random(in: 0...UInt32.max))"
        #expect(throws: LinkError.deviceMissing(device: path)) { try SerialChannel.open(SerialOptions(device: path)) }
        #expect(LinkError.deviceMissing(device: path).description.contains("check the cable"))
        #expect(LinkError.permissionDenied(device: path).description.contains("dialout"))
    }

    @Test func aDevicePolicyRefusalNamesTheUnitsDeviceAllowNotTheDialoutGroup() {
        // EPERM comes from a device policy (systemd's DevicePolicy=closed without a DeviceAllow=
        // for the device); EACCES from the file's permissions. Each names its own cure.
        let policy = LinkError.deviceNotAllowed(device: "/dev/ttyS1").description
        #expect(policy.contains("DeviceAllow=/dev/ttyS1 rw"))
        #expect(policy.contains("char-ttyS"))
        #expect(!policy.contains("dialout"))
        let permissions = LinkError.permissionDenied(device: "/dev/ttyS1").description
        #expect(permissions.contains("dialout"))
        #expect(!permissions.contains("DeviceAllow"))
    }

    @Test func openingSomethingThatIsNotATerminalIsRefused() throws {
        let file = NSTemporaryDirectory() + "/drippay-not-a-tty-\(UInt32.random(in: 0...UInt32.max))"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: LinkError.notATerminal(device: file)) { try SerialChannel.open(SerialOptions(device: file)) }
        #expect(throws: LinkError.notATerminal(device: "/dev/null")) {
            try SerialChannel.open(SerialOptions(device: "/dev/null"))
        }
    }

    @Test func unsupportedLineSettingsAreRefusedOnAPty() async throws {
        try await withTearDown(try await ControllerSimulator.plugged(kind: .vmcLine), tearDown: { await $0.shutdown() })
        { simulator throws in
            #expect(throws: LinkError.self) {
                try SerialChannel.open(SerialOptions(device: simulator.devicePath, baud: 12345))
            }
            #expect(throws: LinkError.self) {
                try SerialChannel.open(SerialOptions(device: simulator.devicePath, dataBits: 9))
            }
            let channel = try SerialChannel.open(
                SerialOptions(device: simulator.devicePath, baud: 9600, parity: .even, stopBits: 2))
            channel.close()
        }
    }

    @Test func simulatorWaitTimesOut() async throws {
        try await withTearDown(try await ControllerSimulator.plugged(kind: .vmcLine), tearDown: { await $0.shutdown() })
        { simulator throws in
            await #expect(throws: SimulatorError.self) {
                try await simulator.waitForLine("NEVER", timeout: .milliseconds(50))
            }
        }
    }
}
