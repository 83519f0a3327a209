import ControllerLink
import Foundation
import Glibc
import KioskCore
import KioskDisplay
import Logging
import Synchronization
import Testing

@testable import KioskDaemon

/// A framebuffer that appears late or goes away: out of service, reopened, back by itself.
@Suite struct ReopeningDisplayTests {
    /// An opener that fails (the device is not there) until `available` is set, counting tries.
    final class LateDevice: Sendable {
        let available = Atomic<Bool>(false)
        let attempts = Atomic<Int>(0)
        let output = SignallingDisplay()

        func open() throws(DisplayError) -> any DisplayOutput {
            attempts.add(1, ordering: .relaxed)
            guard available.load(ordering: .relaxed) else {
                throw .framebufferOpenFailed(device: "/dev/fb0", errno: ENOENT)
            }
            return output
        }
    }

    /// What the display told the gate, in order.
    final class Changes: Sendable {
        let seen = Mutex<[ServiceProblem?]>([])
        let pulse = Pulse()

        func record(_ problem: ServiceProblem?) {
            seen.withLock { $0.append(problem) }
            pulse.signal()
        }

        func wait(count: Int) async -> [ServiceProblem?] {
            _ = await pulse.wait(until: { self.seen.withLock { $0.count } >= count }, timeout: .seconds(5))
            return seen.withLock { $0 }
        }
    }

    func display(_ device: LateDevice, _ changes: Changes) -> ReopeningDisplay {
        ReopeningDisplay(
            device: "/dev/fb0", backoff: .init(initial: .milliseconds(10), maximum: .milliseconds(40)),
            logger: Logger(label: "test"), onChange: { changes.record($0) },
            open: { () throws(DisplayError) -> any DisplayOutput in try device.open() })
    }

    @Test func aMissingFramebufferAtStartIsOutOfServiceNotAFatalError() async throws {
        let device = LateDevice()
        let changes = Changes()
        let display = display(device, changes)
        try await display.start()
        let first = await changes.wait(count: 1)
        #expect(first.count == 1)
        #expect(first[0]?.reason == "display unavailable")
        #expect(first[0]?.detail.contains("/dev/fb0") == true)
    }

    @Test func theDisplayComesBackByItselfAndShowsTheLatestScreen() async throws {
        let device = LateDevice()
        let changes = Changes()
        let display = display(device, changes)
        try await display.start()
        try await display.show(.outOfService(reason: "before"))
        try await display.show(.outOfService(reason: "latest"))
        let task = Task { await display.run() }
        defer { task.cancel() }
        try await Task.sleep(for: .milliseconds(100))
        #expect(device.attempts.load(ordering: .relaxed) > 2, "it keeps retrying")
        #expect(await changes.wait(count: 1).count == 1, "an outage is reported once, not at every retry")
        device.available.store(true, ordering: .relaxed)
        let seen = await changes.wait(count: 2)
        #expect(seen.count == 2)
        #expect(seen.last == .some(nil), "back in service")
        await device.output.wait(count: 1)
        #expect(await device.output.shown == [.outOfService(reason: "latest")])
    }

    @Test func aWriteFailureClosesTheDisplayAndReopensIt() async throws {
        let device = LateDevice()
        device.available.store(true, ordering: .relaxed)
        let failing = FailingOnce()
        let changes = Changes()
        let display = ReopeningDisplay(
            device: "/dev/fb0", backoff: .init(initial: .milliseconds(10), maximum: .milliseconds(40)),
            logger: Logger(label: "test"), onChange: { changes.record($0) },
            open: { () throws(DisplayError) -> any DisplayOutput in
                failing.opened.add(1, ordering: .relaxed).newValue == 1 ? failing : try device.open()
            })
        try await display.start()
        let task = Task { await display.run() }
        defer { task.cancel() }
        try await display.show(.outOfService(reason: "gone"))  // the device vanished under it
        let seen = await changes.wait(count: 3)
        #expect(seen.count == 3)
        #expect(seen[0] == nil && seen[1]?.reason == "display unavailable" && seen[2] == nil)
        await device.output.wait(count: 1)
        #expect(await device.output.shown == [.outOfService(reason: "gone")])
    }

    @Test func aFaultNoRetryCanCureStopsTheStart() async {
        let changes = Changes()
        let display = ReopeningDisplay(
            device: "/dev/fb0", backoff: .standard, logger: Logger(label: "test"), onChange: { changes.record($0) },
            open: { () throws(DisplayError) -> any DisplayOutput in
                throw .framebufferUnsupportedFormat(device: "/dev/fb0", bitsPerPixel: 8)
            })
        await #expect(throws: DisplayError.framebufferUnsupportedFormat(device: "/dev/fb0", bitsPerPixel: 8)) {
            try await display.start()
        }
    }

    /// Records what it draws and wakes a test waiting for it.
    actor SignallingDisplay: DisplayOutput {
        private(set) var shown: [Screen] = []
        private let drawn = Pulse()

        func show(_ screen: Screen) async throws {
            shown.append(screen)
            drawn.signal()
        }

        func wait(count: Int) async {
            _ = await drawn.wait(until: { await self.shown.count >= count }, timeout: .seconds(5))
        }
    }

    /// Opens once, then every write fails as an unplugged device's does.
    final class FailingOnce: DisplayOutput, Sendable {
        let opened = Atomic<Int>(0)
        func show(_ screen: Screen) async throws {
            throw DisplayError.framebufferWriteFailed(device: "/dev/fb0", errno: ENODEV, written: 0, expected: 1)
        }
    }
}
