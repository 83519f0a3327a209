import ControllerLink
import DripPayAPI
import KioskConfig
import KioskCore
import KioskDisplay
import KioskJournal
import Logging
import PayCodes
import ServiceLifecycle
import Synchronization
import VendSession

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The kiosk daemon as a swift-service-lifecycle `Service`: the journal, the serial link, the
/// API client and the display wired to the `VendCoordinator`, run as a `ServiceGroup` of small
/// services (`services(_:)`, in start order) with health checks, the systemd protocol (READY,
/// STATUS, WATCHDOG, STOPPING), metrics and journal pruning.
///
/// `run()` opens everything, serves vends until graceful shutdown (SIGTERM/SIGINT through the
/// enclosing `ServiceGroup`), which reaches the services in reverse order: STOPPING=1, the loops
/// stop, the coordinator drains (no new vends, a dispense in flight may finish for a bounded
/// time, anything else stays in the journal for recovery), then the display, the gate and the
/// serial link stop, and `run()` returns.
public final class KioskDaemon: Service, Sendable {
    public let configuration: KioskConfiguration
    public let metrics = KioskMetrics()
    private let token: APIToken
    private let options: KioskDaemonOptions
    private let logger: Logger

    public init(
        configuration: KioskConfiguration, token: APIToken, options: KioskDaemonOptions = KioskDaemonOptions(),
        logger: Logger = Logger(label: "drippay-kiosk.daemon")
    ) {
        self.configuration = configuration
        self.token = token
        self.options = options
        self.logger = logger
    }

    /// The daemon's services in start order. Graceful shutdown reaches them in reverse order, one
    /// after the other finished: each may still use the ones above it. A new loop is a `Service`
    /// in `Services/` and one line here.
    func services(_ p: DaemonParts) -> [any Service] {
        let o = options
        return [
            // The serial link: stops last, so the drain still hears the controller.
            ControllerLinkService(
                link: p.link, gate: p.gate, coordinator: p.coordinator, metrics: metrics, activity: p.linkActivity),
            ServiceGateService(
                gate: p.gate, journalHealth: p.journalHealth, journalPath: configuration.journal.path, metrics: metrics,
                metricsFile: p.metricsFile, logger: logger),
            DisplayService(screen: p.screen, reopening: p.reopening, problems: p.displayProblems, gate: p.gate),
            // Before the coordinator: it keeps pinging through the drain.
            WatchdogService(
                interval: SystemdNotifier.watchdogInterval(environment: o.environment), notifier: p.notifier,
                coordinator: p.coordinator, journal: p.journal, ready: p.ready, logger: logger),
            CoordinatorService(
                coordinator: p.coordinator, gate: p.gate, screen: p.screen, commands: p.commandsSent,
                dispenseDrain: o.dispenseDrain, cancelsUnclaimable: configuration.controller.protocolKind == .qibixxMDB,
                metrics: metrics, metricsFile: p.metricsFile, onOutcome: o.onOutcome, logger: logger),
            APIHealthService(
                client: p.client, gate: p.gate, trouble: p.apiTrouble, interval: o.healthInterval,
                outOfServiceInterval: o.outOfServiceHealthInterval, ready: p.ready),
            MetricsService(file: p.metricsFile, interval: o.metricsInterval, ready: p.ready),
            PrunerService(pruner: p.pruner, ready: p.ready),
            // Last: the first to hear graceful shutdown, so STOPPING=1 goes out first.
            StartupService(
                link: p.linkActivity, linkSettle: o.linkSettle, client: p.client, gate: p.gate,
                coordinator: p.coordinator, notifier: p.notifier, status: p.status,
                journalPath: configuration.journal.path, ready: p.ready, logger: logger),
        ]
    }

    public func run() async throws {
        let config = configuration
        logger.info("starting drippay-kiosk run with \(config.configFile)")
        for line in config.summary.split(separator: "\n") { logger.info("\(line)") }

        // One daemon per journal, for the whole run: before anything else touches the journal or
        // the serial line. A second `run` stops here, naming the one running.
        let journalLock: JournalLock
        do {
            try Journal.checkDirectory(of: config.journal.path)
        } catch {
            throw DaemonError.journal(path: config.journal.path, error)
        }
        do {
            journalLock = try JournalLock(journalPath: config.journal.path)
        } catch {
            throw DaemonError.alreadyRunning(error)
        }
        defer { withExtendedLifetime(journalLock) {} }

        // Journal first: without it nothing may happen.
        let journal: Journal
        do {
            journal = try Journal.open(path: config.journal.path, machineID: config.machineID)
        } catch {
            throw DaemonError.journal(path: config.journal.path, error)
        }
        defer { journal.close() }

        let parts = try await DaemonParts.open(
            configuration: config, token: token, options: options, journal: journal, metrics: metrics, logger: logger)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: services(parts), logger: logger))

        // The image fetcher's HTTP client is shut down however the daemon ends.
        do {
            try await group.run()
        } catch {
            await parts.fetcher?.shutdown()
            throw error
        }
        await parts.fetcher?.shutdown()
        logger.notice("stopped")
    }
}
