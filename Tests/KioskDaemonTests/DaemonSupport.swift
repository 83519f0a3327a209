import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskConfig
import KioskCore
import KioskDemo
import KioskDisplay
import KioskTestSupport
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import VendSession

@testable import KioskDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Collects every datagram sent to a test NOTIFY_SOCKET on its own thread (a blocking recv
/// must not sit on the test's cooperative threads).
final class NotifyCollector: Sendable {
    let path: String
    private let socket: NotifySocket
    private let messages = Mutex<[String]>([])
    private let running = Atomic<Bool>(true)
    private let pulse = Pulse()

    init() throws {
        socket = try NotifySocket(receiveTimeout: .milliseconds(100))
        path = socket.path
        let thread = Thread { [self] in
            while running.load(ordering: .relaxed) {
                guard let text = socket.receive() else { continue }
                messages.withLock { $0.append(contentsOf: text.split(separator: "\n").map(String.init)) }
                pulse.signal()
            }
            socket.close()
        }
        thread.start()
    }

    /// Every `KEY=VALUE` line received so far.
    var lines: [String] { messages.withLock { $0 } }

    /// Waits until a line satisfies `matches`; returns it, or nil after `timeout`.
    func waitFor(_ timeout: Duration = .seconds(5), _ matches: @escaping @Sendable (String) -> Bool) async -> String? {
        _ = await pulse.wait(until: { self.lines.contains(where: matches) }, timeout: timeout)
        return lines.first(where: matches)
    }

    /// Waits until a line after the first `index` ones satisfies `matches`; returns it, or nil after `timeout`.
    func waitFor(
        after index: Int, _ timeout: Duration = .seconds(5), _ matches: @escaping @Sendable (String) -> Bool
    ) async -> String? {
        _ = await pulse.wait(until: { self.lines.dropFirst(index).contains(where: matches) }, timeout: timeout)
        return lines.dropFirst(index).first(where: matches)
    }

    func stop() { running.store(false, ordering: .relaxed) }
}

enum HarnessError: Error {
    case shutdownTimedOut
}

/// A display that records what it was asked to draw.
actor RecordingDisplay: DisplayOutput {
    private(set) var shown: [Screen] = []
    func show(_ screen: Screen) async throws { shown.append(screen) }
}

/// A `DaemonHarness` for the length of `body`; its teardown (the simulator and the sandbox stopped,
/// the directory removed unless `keepDirectory`) is awaited after the body, also when the body throws.
func withDaemonHarness<Result>(
    abilities: Set<Ability> = Set(Ability.allCases), paymentTimeout: Int = 30, resumeGrace: Int = 10,
    kind: ControllerProtocolKind = .vmcLine, adapter: QibixxAdapterModel? = nil, directory: String? = nil,
    keepDirectory: Bool = false, _ body: (DaemonHarness) async throws -> Result
) async throws -> Result {
    let harness = try await DaemonHarness(
        abilities: abilities, paymentTimeout: paymentTimeout, resumeGrace: resumeGrace, kind: kind, adapter: adapter,
        directory: directory)
    return try await withTearDown(harness, tearDown: { await $0.tearDown(keepDirectory: keepDirectory) }, body)
}

/// The real pieces for one daemon test: the sandbox on loopback, a simulated vmc-line
/// controller on a pty, a temp dir with a token, a config and a journal.
final class DaemonHarness: Sendable {
    let sandbox: APISandbox
    let simulator: ControllerSimulator
    let directory: String
    let configuration: KioskConfiguration
    let token: APIToken
    let screens = Mutex<[ScreenIntent]>([])
    let outcomes = Mutex<[SessionOutcome]>([])
    let changed = Pulse()

    /// - Parameters:
    ///   - kind: the controller protocol (a raw simulator the test drives line by line).
    ///   - adapter: run the daemon with `qibixx-mdb` against this simulated adapter instead.
    init(
        abilities: Set<Ability> = Set(Ability.allCases), paymentTimeout: Int = 30, resumeGrace: Int = 10,
        kind: ControllerProtocolKind = .vmcLine, adapter: QibixxAdapterModel? = nil, directory reuse: String? = nil
    ) async throws {
        let value = APISandbox.generateToken()
        sandbox = APISandbox(tokens: [value: abilities])
        let port = try await sandbox.start(port: 0)
        let kind = adapter == nil ? kind : .qibixxMDB
        let simulator = try ControllerSimulator(kind: kind)
        if let adapter { await simulator.actAsAdapter(adapter) }
        try await simulator.plug()
        self.simulator = simulator
        directory = reuse ?? NSTemporaryDirectory() + "kiosk-daemon-test-\(UUID().uuidString.prefix(8))"
        var written: KioskConfiguration
        (written, token) = try KioskDemo.writeConfig(
            directory: directory, port: port, token: value, device: simulator.devicePath,
            paymentTimeout: paymentTimeout,
            resumeGrace: resumeGrace, display: "none")
        written.controller.protocolKind = kind
        // Sessions end at the 404 after their cancel (the late-payment watch has tests of its own).
        written.vend.latePaymentWatchSeconds = 0
        configuration = written
    }

    func options(
        environment: [String: String] = [:], display: any DisplayOutput = NoDisplayOutput(),
        healthInterval: Duration = .seconds(60),
        outOfServiceHealth: Duration = .milliseconds(200)
    ) -> KioskDaemonOptions {
        KioskDaemonOptions(
            environment: environment, display: display,
            onScreen: { intent in
                self.screens.withLock { $0.append(intent) }
                self.changed.signal()
            },
            onOutcome: { outcome in
                self.outcomes.withLock { $0.append(outcome) }
                self.changed.signal()
            },
            healthInterval: healthInterval, outOfServiceHealthInterval: outOfServiceHealth,
            linkBackoff: .init(initial: .milliseconds(50), maximum: .milliseconds(200)))
    }

    /// Runs a daemon in a ServiceGroup around `body`, then shuts it down gracefully and expects
    /// it to return without error within 10 s.
    func withDaemon(
        _ options: KioskDaemonOptions, _ body: @escaping @Sendable (KioskDaemon) async throws -> Void
    ) async throws {
        let daemon = KioskDaemon(configuration: configuration, token: token, options: options)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [daemon], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body(daemon)
            } catch {
                await group.triggerGracefulShutdown()
                _ = try? await tasks.next()
                throw error
            }
            // Bounded: a daemon that does not stop within 10 s of the shutdown fails the test.
            tasks.addTask {
                try await Task.sleep(for: .seconds(10))
                throw HarnessError.shutdownTimedOut
            }
            await group.triggerGracefulShutdown()
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    func outcome(of id: String, timeout: Duration = .seconds(5)) async -> SessionOutcome? {
        _ = await changed.wait(
            until: { self.outcomes.withLock { $0.contains { $0.record.vendID.rawValue == id } } }, timeout: timeout)
        return outcomes.withLock { list in list.first { $0.record.vendID.rawValue == id } }
    }

    func screen(
        timeout: Duration = .seconds(5), _ matches: @escaping @Sendable (ScreenIntent) -> Bool
    ) async -> ScreenIntent? {
        _ = await changed.wait(until: { self.screens.withLock { $0.contains(where: matches) } }, timeout: timeout)
        return screens.withLock { $0.last(where: matches) }
    }

    /// How many lines the daemon wrote that equal `line`.
    func count(_ line: String) async -> Int { await simulator.received.filter { $0 == line }.count }

    func tearDown(keepDirectory: Bool = false) async {
        await simulator.shutdown()
        await sandbox.stop()
        if !keepDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }
}
