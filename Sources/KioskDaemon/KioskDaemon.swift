import AsyncHTTPClient
import ControllerLink
import DripPayAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KioskConfig
import KioskCore
import KioskDisplay
import KioskJournal
import Logging
import PayCodes
import ServiceLifecycle
import Synchronization
import VendSession

/// Why the daemon could not start or had to stop. Each says what to do.
public enum DaemonError: Error, CustomStringConvertible {
    /// The journal could not be opened (corrupt, unwritable, wrong schema).
    case journal(path: String, JournalError)
    /// The display could not be opened (framebuffer, fonts, PNG directory).
    case display(DisplayError)
    /// The API client could not be set up (base URL).
    case api(DripPayError)
    /// The open sessions in the journal could not be read for recovery.
    case recovery(path: String, any Error)
    /// Another daemon holds the journal (or its lock could not be taken).
    case alreadyRunning(any Error)

    public var description: String {
        switch self {
        case .journal(let path, let error):
            return "cannot use the journal \(path): \(error). The journal is the only record of payments: "
                + "do not delete it; inspect it with `drippay-kiosk journal list --journal \(path)` "
                + "or move it aside and keep it for the audit."
        case .display(let error):
            return "cannot open the display: \(error). Check [display] in the config or the profile."
        case .api(let error):
            return "\(error)"
        case .recovery(let path, let error):
            return "cannot read the open sessions of the journal \(path) for recovery: \(error)"
        case .alreadyRunning(let error):
            return "\(error)"
        }
    }
}

/// Things tests, the demo and the benchmark inject; the defaults are production's.
public struct KioskDaemonOptions: Sendable {
    /// `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`.
    public var environment: [String: String]
    /// Replaces the configured display output (tests: none; the demo: a terminal on a chosen fd).
    public var display: (any DisplayOutput)?
    /// Sees every screen the daemon draws.
    public var onScreen: @Sendable (ScreenIntent) -> Void
    /// Sees every session that ends.
    public var onOutcome: @Sendable (SessionOutcome) -> Void
    /// Sees every screen after the display drew it (the demo's customer scans the pay screen).
    public var onDrawn: @Sendable (Screen) -> Void
    /// `/ping` period while in service and while out of service.
    public var healthInterval: Duration
    public var outOfServiceHealthInterval: Duration
    /// How long shutdown waits for a dispense in flight to be reported.
    public var dispenseDrain: Duration
    /// How often the metrics textfile is rewritten (also after each vend).
    public var metricsInterval: Duration
    /// Serial reopen back-off.
    public var linkBackoff: ControllerLink.Backoff
    /// How long start-up waits for the serial link's first open attempt before going on.
    public var linkSettle: Duration
    /// False only for the benchmark: no client-side request budgets (the server's own limits still apply).
    public var clientRateLimited: Bool
    /// How often a `qibixx-mdb` adapter is asked for its version (liveness).
    public var adapterProbeInterval: Duration

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, display: (any DisplayOutput)? = nil,
        onScreen: @escaping @Sendable (ScreenIntent) -> Void = { _ in },
        onOutcome: @escaping @Sendable (SessionOutcome) -> Void = { _ in },
        onDrawn: @escaping @Sendable (Screen) -> Void = { _ in },
        healthInterval: Duration = .seconds(60), outOfServiceHealthInterval: Duration = .seconds(5),
        dispenseDrain: Duration = .seconds(5), metricsInterval: Duration = .seconds(15),
        linkBackoff: ControllerLink.Backoff = .standard, linkSettle: Duration = .seconds(2),
        clientRateLimited: Bool = true, adapterProbeInterval: Duration = .seconds(30)
    ) {
        self.environment = environment
        self.display = display
        self.onScreen = onScreen
        self.onOutcome = onOutcome
        self.onDrawn = onDrawn
        self.healthInterval = healthInterval
        self.outOfServiceHealthInterval = outOfServiceHealthInterval
        self.dispenseDrain = dispenseDrain
        self.metricsInterval = metricsInterval
        self.linkBackoff = linkBackoff
        self.linkSettle = linkSettle
        self.clientRateLimited = clientRateLimited
        self.adapterProbeInterval = adapterProbeInterval
    }
}

/// The kiosk daemon as a swift-service-lifecycle `Service`: the journal, the serial link, the
/// API client and the display wired to the `VendCoordinator`, plus health checks, the systemd
/// protocol (READY, STATUS, WATCHDOG, STOPPING), metrics and journal pruning.
///
/// `run()` starts everything, serves vends until graceful shutdown (SIGTERM/SIGINT through the
/// `ServiceGroup`), then stops taking vends, lets a dispense in flight finish for a bounded time,
/// leaves anything else in the journal for recovery, and returns.
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

    /// The required abilities the `/ping` answer lacks, or the problem reaching it.
    static func apiProblem(client: DripPayClient) async -> ServiceProblem? {
        let ping = "\(client.baseURL)/ping"
        do {
            let pong = try await client.ping()
            let missing = requiredAbilities.filter { !pong.abilities.contains($0) }
            guard missing.isEmpty else {
                let names = missing.map(\.rawValue).joined(separator: ", ")
                return ServiceProblem(
                    reason: "token lacks abilities",
                    detail: "token lacks abilities: \(names) (create a token with list-invoice, view-invoice, create-invoice, cancel-invoice)")
            }
            return nil
        } catch DripPayError.connectionFailed(_, let detail) {
            return ServiceProblem(reason: "API unreachable", detail: "API unreachable (\(ping): \(detail))")
        } catch DripPayError.timeout(_, let after) {
            return ServiceProblem(reason: "API unreachable", detail: "API unreachable (\(ping): no answer within \(after))")
        } catch DripPayError.server(_, let status) {
            return ServiceProblem(reason: "API unavailable", detail: "API unavailable (\(ping): HTTP \(status))")
        } catch DripPayError.rateLimited {
            return nil  // the API answered: it is up; the client's budget now pauses
        } catch DripPayError.unauthenticated {
            return ServiceProblem(
                reason: "API token refused", detail: "API token refused (\(ping): 401); check the token file or credential")
        } catch {
            return ServiceProblem(reason: "API check failed", detail: "API check failed (\(ping)): \(error)")
        }
    }

    public func run() async throws {
        let config = configuration
        let notifier = SystemdNotifier(environment: options.environment)
        let status = StatusBoard(notifier: notifier)
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
        prune(journal)

        let display: any DisplayOutput
        // A framebuffer may appear late (udev loads its driver after the unit starts) or go away:
        // out of service meanwhile, reopened with back-off, never a reason to exit.
        var reopening: ReopeningDisplay?
        let (displayProblems, displaySink) = AsyncStream.makeStream(of: ServiceProblem?.self)
        if let injected = options.display {
            display = injected
        } else if config.display.output == .framebuffer {
            let displayOptions = config.display
            let framebuffer = ReopeningDisplay(
                device: displayOptions.device, backoff: options.linkBackoff,
                logger: Logger(label: "drippay-kiosk.display"), onChange: { displaySink.yield($0) },
                open: { () throws(DisplayError) -> any DisplayOutput in try FramebufferOutput(options: displayOptions) })
            do {
                try await framebuffer.start()
            } catch {
                throw DaemonError.display(error)
            }
            reopening = framebuffer
            display = framebuffer
        } else {
            do {
                display = try makeDisplayOutput(options: config.display)
            } catch {
                throw DaemonError.display(error)
            }
        }

        let latency = DispenseLatency(metrics: metrics)
        // A request that got no answer wakes the health check, so the controller hears
        // OUT-OF-SERVICE within seconds of the API going away, not at the next periodic ping.
        let apiTrouble = Pulse()
        let client: DripPayClient
        do {
            let transport = MeteredTransport(
                AsyncHTTPClientTransport(client: .shared, logger: Logger(label: "drippay-kiosk.api")), metrics: metrics,
                baseURL: config.api.baseURL, onTransportFailure: { apiTrouble.signal() })
            client = try DripPayClient(
                baseURL: config.api.baseURL, token: token, requestTimeout: .seconds(config.api.requestTimeoutSeconds),
                requestsPerMinute: config.api.requestsPerMinute,
                statusRequestsPerMinute: config.api.statusRequestsPerMinute, transport: transport,
                logger: Logger(label: "drippay-kiosk.api"), rateLimited: options.clientRateLimited)
        } catch {
            throw DaemonError.api(error)
        }

        // MDB has no vend ids: number them from the journal's durable counter.
        let vendIDs = MDBVendIDs(journal: journal, logger: Logger(label: "drippay-kiosk.serial"))
        let link = ControllerLink(
            options: config.serial, protocol: config.controller.protocolKind, currency: config.currency,
            qibixx: config.controller.qibixx, probeInterval: options.adapterProbeInterval,
            makeVendID: { vendIDs.make() }, logger: Logger(label: "drippay-kiosk.serial"),
            backoff: options.linkBackoff)

        let commandSent = Pulse()
        let shutdownAnnounced = Locked(false)
        let controller = LinkControllerPort(link: link, latency: latency) { command in
            if case .outOfService(reason: "shutting down") = command { shutdownAnnounced.set(true) }
            commandSent.signal()
        }
        let onScreen = options.onScreen
        let store = JournalSessionStore(journal: journal)
        // [qr] source = "invoice-image": the pay screen fetches, decodes and keeps the invoice's own QR image.
        var fetcher: QRImageFetcher?
        var keeper: PayCodeKeeper?
        if config.qr.source == .invoiceImage {
            do {
                let imageFetcher = try QRImageFetcher(
                    apiBaseURL: config.api.baseURL, token: token, timeout: .seconds(config.api.requestTimeoutSeconds),
                    apiBudget: { [client] in try await client.acquireGeneralBudget() },
                    logger: Logger(label: "drippay-kiosk.qr-image"))
                fetcher = imageFetcher
                let keeperLogger = Logger(label: "drippay-kiosk.qr-image")
                keeper = PayCodeKeeper(
                    fetcher: imageFetcher, schedule: PayCodeSchedule(refreshSeconds: Double(config.qr.refreshSeconds)),
                    logger: keeperLogger,
                    record: { tradeNo, kind, detail, at in
                        do {
                            // Without fsync: an audit note recovery never reads; the session's next
                            // commit makes it durable (issue 16, docs/money-safety.md).
                            try store.appendEvent(tradeNo: tradeNo, event: kind, detail: detail, at: at, durable: false)
                        } catch {
                            keeperLogger.warning("cannot journal the code shown for \(tradeNo): \(error)")
                        }
                    })
            } catch {
                throw DaemonError.api(.invalidBaseURL(config.api.baseURL, reason: "\(error)"))
            }
        }
        let screen = DisplayScreenPort(
            output: display, logger: Logger(label: "drippay-kiosk.display"), payCodes: keeper, drawn: options.onDrawn
        ) { intent in
            status.screenShown(intent)
            onScreen(intent)
        }
        let template = config.qr.payload
        let source = config.qr.source
        let machineID = config.machineID
        let items = config.vend.items
        let (journalHealth, journalHealthSink) = AsyncStream<JournalHealth>.makeStream()
        let coordinator = VendCoordinator(
            invoices: DripPayInvoicePort(client: client, machineID: config.machineID, latency: latency),
            store: store, controller: controller, screen: screen,
            renderQR: { info, tradeNo in
                guard source == .template, let template else {
                    return InvoiceImageRef(tradeNo: tradeNo, url: info.qrCodeImageURL ?? "").payload
                }
                return template.render([
                    .reference: info.reference.rawValue, .providerInvoiceID: info.providerInvoiceID ?? "",
                    .total: info.total.decimalString, .currency: info.total.currency.code,
                    .qrCodeImageURL: info.qrCodeImageURL ?? "", .tradeNo: tradeNo.rawValue, .machineID: machineID,
                ])
            },
            planogram: { items[$0] },
            policy: SessionPolicy(
                paymentTimeout: .seconds(config.vend.paymentTimeoutSeconds),
                resumeGrace: .seconds(config.vend.resumeGraceSeconds),
                machineTimeout: config.controller.machineTimeoutSeconds.map { .seconds($0) }),
            clock: ContinuousClock(), now: Date.init,
            onJournalHealth: { journalHealthSink.yield($0) })
        let gate = ServiceGate(
            coordinator: coordinator, controller: controller, status: status, metrics: metrics,
            logger: logger)
        let linkSeen = Pulse()
        let linkEvents = Locked(0)
        // A fault that must stop the daemon at once (another process holds the serial device).
        // The group's body is not cancelled by a failing child, so the body waits for it.
        let fatal = Locked<DaemonError?>(nil)
        let fatalPulse = Pulse()
        let sessionEnded = Pulse()
        refreshJournalMetrics(journal)

        // The image fetcher's HTTP client is shut down however the daemon ends.
        do {
            try await serveVends()
        } catch {
            await fetcher?.shutdown()
            throw error
        }
        await fetcher?.shutdown()
        logger.notice("stopped")

        func serveVends() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await coordinator.run() }
            group.addTask { await screen.run() }
            group.addTask { await gate.run() }
            if let reopening {
                group.addTask { await reopening.run() }
                group.addTask { for await problem in displayProblems { gate.submit(.display(problem)) } }
            }
            group.addTask {
                do {
                    try await link.run()
                } catch let error as LinkError {
                    fatal.set(.alreadyRunning(error))  // the device is held by another process
                    fatalPulse.signal()
                    linkSeen.signal()
                }
            }
            group.addTask {
                var wasUp = false
                var isDown = false
                for await event in link.events {
                    switch event {
                    case .up:
                        if wasUp && isDown { self.metrics.serialReconnected() }
                        wasUp = true
                        isDown = false
                        gate.submit(.serialUp)
                    case .down(let reason):
                        isDown = true
                        gate.submit(.serialDown(ServiceProblem(reason: "serial link down", detail: "serial link down (\(reason))")))
                        await coordinator.linkChanged(up: false)
                    case .controller(let event):
                        if let change = ServiceGate.adapterChange(event) { gate.submit(change) }
                        await coordinator.handle(event)
                    }
                    linkEvents.update { $0 += 1 }
                    linkSeen.signal()
                }
            }
            group.addTask {
                // The coordinator reports each episode once: out of service (controller, screen,
                // STATUS=), counted, logged once; back by itself when its write probe succeeds.
                for await change in journalHealth {
                    switch change {
                    case .unwritable(let detail):
                        self.metrics.journalWritable(false)
                        let problem = Self.journalProblem(detail)
                        self.logger.error("\(problem.detail)")
                        gate.submit(.journal(problem))
                    case .writable:
                        self.metrics.journalWritable(true)
                        self.logger.notice("journal writable again: \(config.journal.path)")
                        gate.submit(.journal(nil))
                    }
                    self.writeMetrics()
                }
            }
            group.addTask {
                for await outcome in coordinator.outcomes {
                    self.sessionEnded(outcome, journal: journal)
                    sessionEnded.signal()
                }
            }

            // Start-up: the link's first open attempt, the API check, recovery, then READY.
            _ = await linkSeen.wait(until: { linkEvents.value > 0 || fatal.value != nil }, timeout: options.linkSettle)
            if let error = fatal.value { throw error }
            let problem = await Self.apiProblem(client: client)
            await gate.apply(.api(problem))
            do {
                try await coordinator.recoverOnStart()
            } catch {
                throw DaemonError.recovery(path: config.journal.path, error)
            }
            let openCount = await coordinator.openSessions().count
            if openCount > 0 { logger.notice("recovering \(openCount) open session(s) from the journal") }
            notifier.notify(.ready, .status(status.text))
            logger.notice("ready")

            group.addTask { await self.healthLoop(client: client, gate: gate, trouble: apiTrouble) }
            group.addTask { await self.metricsLoop(journal: journal) }
            group.addTask { await self.pruneLoop(journal: journal) }
            if let interval = SystemdNotifier.watchdogInterval(environment: options.environment) {
                group.addTask {
                    await self.watchdogLoop(interval: interval, notifier: notifier, coordinator: coordinator, journal: journal)
                }
            }

            // Until SIGTERM/SIGINT (true), cancellation (false) or a fatal fault (nil).
            let stop = await withTaskGroup(of: Bool?.self) { race -> Bool? in
                race.addTask {
                    do {
                        try await gracefulShutdown()
                        return true
                    } catch {
                        return false
                    }
                }
                race.addTask {
                    _ = await fatalPulse.wait(until: { fatal.value != nil }, timeout: .seconds(10 * 365 * 86_400))
                    return fatal.value == nil ? false : nil
                }
                let first = await race.next() ?? false
                race.cancelAll()
                return first
            }
            guard let stop else {
                group.cancelAll()
                throw fatal.value ?? DaemonError.alreadyRunning(CancellationError())
            }
            if !stop {
                group.cancelAll()  // cancelled without a graceful shutdown: just stop
                return
            }

            // Graceful shutdown: no new vends, a dispense in flight may finish, the rest is parked.
            notifier.notify(.stopping, .status("shutting down"))
            logger.notice("shutting down: no new vends")
            gate.submit(.shuttingDown)
            _ = await commandSent.wait(until: { shutdownAnnounced.value }, timeout: .seconds(1))
            let drained = await sessionEnded.wait(
                until: {
                    await coordinator.openSessions().allSatisfy {
                        !($0.record.state == .dispensing || ($0.record.state == .paid && $0.controllerWaiting))
                    }
                }, timeout: options.dispenseDrain)
            if !drained { logger.warning("a dispense did not finish in time; the journal keeps it for recovery") }
            if config.controller.protocolKind == .qibixxMDB {
                // MDB has no vend ids: nobody can re-claim these vends after the restart, so their
                // invoices are cancelled now (with the re-check) rather than left payable.
                let abandoned = await coordinator.abandonUnclaimable()
                if !abandoned.isEmpty {
                    logger.notice("shutting down: cancelling \(abandoned.count) invoice(s) the controller cannot re-claim")
                    let settled = await sessionEnded.wait(
                        until: { await coordinator.openSessions().allSatisfy { !abandoned.contains($0.record.tradeNo) } },
                        timeout: .seconds(3))
                    if !settled { logger.warning("a cancel did not finish in time; the journal keeps it for recovery") }
                }
            }
            // The last screen: no QR may stay up on a framebuffer once nobody watches it.
            let finalScreen = ScreenIntent.outOfService(reason: "shutting down")
            await coordinator.showFinalScreen(finalScreen)
            if !(await screen.waitUntilDrawn(finalScreen, timeout: .seconds(1))) {
                logger.warning("the out-of-service screen was not drawn before exit")
            }
            let parked = await coordinator.openSessions()
            for session in parked {
                logger.notice(
                    "session left open in the journal for recovery",
                    metadata: ["trade_no": "\(session.record.tradeNo)", "state": "\(session.record.state.rawValue)"])
            }
            refreshJournalMetrics(journal)
            writeMetrics()
            gate.finish()
            displaySink.finish()
            journalHealthSink.finish()
            group.cancelAll()
        }
        }
    }

    // MARK: Loops

    /// `/ping` every `healthInterval` in service (`outOfServiceHealthInterval` out of it), and at
    /// once when a request got no answer. Checks are at least `outOfServiceHealthInterval` apart,
    /// so a burst of failures costs one ping, well within the 60/min budget.
    private func healthLoop(client: DripPayClient, gate: ServiceGate, trouble: Pulse) async {
        var seen = trouble.generation
        while !Task.isCancelled {
            let pause = gate.isAvailable ? options.healthInterval : options.outOfServiceHealthInterval
            await trouble.wait(after: seen, timeout: pause)
            if Task.isCancelled { return }
            let woken = trouble.generation != seen
            gate.submit(.api(await Self.apiProblem(client: client)))
            // Read after the check, so the check's own failure does not wake the next one.
            seen = trouble.generation
            if woken {
                do { try await Task.sleep(for: options.outOfServiceHealthInterval) } catch { return }
            }
        }
    }

    /// The out-of-service cause for a journal that does not take writes, with what to do.
    static func journalProblem(_ detail: String) -> ServiceProblem {
        ServiceProblem(
            reason: "journal unwritable",
            detail: "journal unwritable: \(detail). Check free space (df) and whether the card was remounted "
                + "read-only (dmesg); payments resume by themselves once a write succeeds")
    }

    /// `WATCHDOG=1` only while a round trip into the coordinator and a journal write probe both
    /// finish within half the interval: a hung actor or a journal stuck in I/O stops the pings and
    /// systemd restarts us. A probe that answers with an error (card full or remounted read-only)
    /// keeps the pings: a restart cannot cure it and the next start would fail to open the journal.
    /// Instead the kiosk goes out of service ("journal unwritable") and comes back by itself once a
    /// write succeeds again.
    private func watchdogLoop(
        interval: Duration, notifier: SystemdNotifier, coordinator: VendCoordinator, journal: Journal
    ) async {
        let half = interval / 2
        var probeFailing = false
        while !Task.isCancelled {
            // nil: no answer in time; "": healthy; otherwise why the write probe failed.
            let check = await withTimeout(half) { () -> String in
                _ = await coordinator.pollingCount()
                do {
                    try journal.probeWrite()
                    return ""
                } catch {
                    return String(describing: error)
                }
            }
            switch check {
            case .some(""):
                if probeFailing { logger.notice("watchdog: the journal takes writes again") }
                probeFailing = false
                notifier.notify(.watchdog)
            case .some(let failure):
                if !probeFailing {
                    logger.error("watchdog: the journal write probe failed: \(failure); out of service until it takes writes")
                    await coordinator.noticeJournalFault(JournalProbeFailure(description: failure))
                }
                probeFailing = true
                notifier.notify(.watchdog)
            case .none:
                logger.error("main loop unhealthy (coordinator or journal did not answer within \(half)); no watchdog ping")
            }
            do { try await Task.sleep(for: half) } catch { return }
        }
    }

    private func metricsLoop(journal: Journal) async {
        guard configuration.metrics.textfile != nil else { return }
        while !Task.isCancelled {
            refreshJournalMetrics(journal)
            writeMetrics()
            do { try await Task.sleep(for: options.metricsInterval) } catch { return }
        }
    }

    private func pruneLoop(journal: Journal) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(86_400)) } catch { return }
            prune(journal)
        }
    }

    // MARK: Pieces

    private func sessionEnded(_ outcome: SessionOutcome, journal: Journal) {
        let record = outcome.record
        switch outcome.ending {
        case .finished(let state):
            metrics.vendEnded(outcome: state.rawValue)
            let level: Logger.Level = (state == .refundDue || state == .dispenseUnknown) ? .warning : .info
            logger.log(
                level: level, "session ended",
                metadata: [
                    "trade_no": "\(record.tradeNo)", "vend": "\(record.vendID)", "state": "\(state.rawValue)",
                    "note": "\(record.note ?? "")",
                ])
        case .parked(let reason):
            metrics.vendEnded(outcome: "parked")
            logger.error("session parked: \(reason)", metadata: ["trade_no": "\(record.tradeNo)", "vend": "\(record.vendID)"])
        }
        refreshJournalMetrics(journal)
        writeMetrics()
        options.onOutcome(outcome)
    }

    private func refreshJournalMetrics(_ journal: Journal) {
        if let refundsDue = try? journal.count(state: .refundDue) { metrics.setRefundsDue(refundsDue) }
        metrics.setJournalBytes(journal.fileSizeBytes())
    }

    private func writeMetrics() {
        guard let path = configuration.metrics.textfile else { return }
        do {
            try metrics.writeTextfile(to: path)
        } catch {
            logger.warning("cannot write the metrics textfile \(path): \(error)")
        }
    }

    private func prune(_ journal: Journal) {
        let cutoff = Date().addingTimeInterval(-Double(configuration.journal.retentionDays) * 86_400)
        do {
            let removed = try journal.prune(finishedBefore: cutoff)
            if removed > 0 { logger.info("pruned \(removed) ended session(s) older than \(configuration.journal.retentionDays) days") }
        } catch {
            logger.warning("journal pruning failed: \(error)")
        }
    }
}

/// The watchdog's write probe failed; `description` is the journal's own error text.
struct JournalProbeFailure: Error, CustomStringConvertible {
    let description: String
}
