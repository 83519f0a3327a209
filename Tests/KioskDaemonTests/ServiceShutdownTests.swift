import Foundation
import KioskCore
import KioskJournal
import KioskTestSupport
import Logging
import ServiceLifecycle
import Testing

@testable import KioskDaemon

/// Each of the daemon's services alone (built from the daemon's own parts, as `KioskDaemon.run()`
/// builds them): it stops within a bound on a graceful shutdown and on a cancellation, so one
/// service cannot hold the daemon's stop (systemd would kill it after TimeoutStopSec).
@Suite("Daemon: every service stops alone on shutdown and on cancellation", .serialized)
struct ServiceShutdownTests {
    /// The daemon's services in start order, by description. A new service fails
    /// `theListNamesEveryServiceOfTheDaemon` until it is added here (and so tested below).
    static let names = [
        "controller link", "service gate", "display", "watchdog", "vend coordinator", "API health", "metrics",
        "journal pruner", "start-up",
    ]
    static let bound = Duration.seconds(5)

    enum Stop: String, CaseIterable, Sendable {
        case gracefulShutdown = "graceful shutdown"
        case cancellation
    }

    /// The daemon's parts and services over a DaemonHarness (sandbox, simulated controller, config,
    /// journal) for the length of `body`; the journal closed and the image fetcher shut down after it.
    func withServices<Result>(
        _ body: (DaemonHarness, [any Service]) async throws -> Result
    ) async throws -> Result {
        try await withDaemonHarness { harness in
            let journal = try Journal.open(path: harness.configuration.journal.path, machineID: "TEST")
            defer { journal.close() }
            let daemon = KioskDaemon(configuration: harness.configuration, token: harness.token)
            let parts = try await DaemonParts.open(
                configuration: harness.configuration, token: harness.token, options: harness.options(),
                journal: journal, metrics: daemon.metrics, logger: Logger(label: "test"))
            return try await withTearDown(parts, tearDown: { await $0.fetcher?.shutdown() }) { parts in
                try await body(harness, daemon.services(parts))
            }
        }
    }

    @Test func theListNamesEveryServiceOfTheDaemon() async throws {
        try await withServices { _, services in
            #expect(services.map { String(describing: $0) } == Self.names)
        }
    }

    @Test(arguments: names, Stop.allCases)
    func theServiceStopsWithinTheBound(name: String, stop: Stop) async throws {
        try await withServices { _, services in
            let service = try #require(services.first { String(describing: $0) == name }, "no service \(name)")
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(services: [service], logger: Logger(label: "test")))
            // A pulse, not a race of `await running.value` against a sleep: a task group would
            // wait for a service that ignores its stop, and the test would hang instead of failing.
            let ended = Pulse()
            let done = Locked(false)
            let running = Task {
                _ = try? await group.run()
                done.set(true)
                ended.signal()
            }
            // Let it start (and reach its first wait) before it is stopped.
            try await Task.sleep(for: .milliseconds(200))
            switch stop {
            case .gracefulShutdown: await group.triggerGracefulShutdown()
            case .cancellation: running.cancel()
            }
            let stopped = await ended.wait(until: { done.value }, timeout: Self.bound)
            #expect(stopped, "\(name) did not stop within \(Self.bound) of a \(stop.rawValue)")
            if !stopped { running.cancel() }
        }
    }
}
