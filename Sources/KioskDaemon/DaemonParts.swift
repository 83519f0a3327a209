import ControllerLink
import DripPayAPI
import KioskConfig
import KioskCore
import KioskDisplay
import KioskJournal
import Logging
import PayCodes
import VendSession

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The daemon's pieces, opened from the configuration and wired together (journal, display, API
/// client, serial link, coordinator, service gate) plus the signals its services share. Opening
/// touches devices and the network set-up only; nothing runs until the services do.
struct DaemonParts: Sendable {
    let journal: Journal
    let pruner: JournalPruner
    let metricsFile: MetricsFile
    let notifier: SystemdNotifier
    let status: StatusBoard
    let client: DripPayClient
    /// Signalled when a request got no answer: wakes the API health check.
    let apiTrouble: Pulse
    let fetcher: QRImageFetcher?
    let link: ControllerLink
    let linkActivity: LinkActivity
    let commandsSent: CommandsSent
    let screen: DisplayScreenPort
    let reopening: ReopeningDisplay?
    let displayProblems: AsyncStream<ServiceProblem?>
    let coordinator: VendCoordinator
    let journalHealth: AsyncStream<JournalHealth>
    let gate: ServiceGate
    /// Opened by start-up after READY.
    let ready = Latch()

    static func open(
        configuration config: KioskConfiguration, token: APIToken, options: KioskDaemonOptions, journal: Journal,
        metrics: KioskMetrics, logger: Logger
    ) async throws -> DaemonParts {
        let notifier = SystemdNotifier(environment: options.environment)
        let status = StatusBoard(notifier: notifier)
        let pruner = JournalPruner(journal: journal, retentionDays: config.journal.retentionDays, logger: logger)
        pruner.prune()

        let (display, reopening, displayProblems) = try await openDisplay(config.display, options: options)

        let latency = DispenseLatency(metrics: metrics)
        // A request that got no answer wakes the health check, so the controller hears
        // OUT-OF-SERVICE within seconds of the API going away, not at the next periodic ping.
        let apiTrouble = Pulse()
        let client: DripPayClient
        // One libcurl transport for the API and the invoice's QR image: its CA file and proxy,
        // the token only to base_url's origin.
        let http = CurlTransport(
            options: CurlTransport.Options(caFile: config.api.caFile, proxy: config.api.proxy),
            tokenOrigin: config.api.baseURL)
        do {
            let transport = MeteredTransport(
                http, metrics: metrics,
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

        let commandsSent = CommandsSent()
        let controller = LinkControllerPort(link: link, latency: latency) { commandsSent.sent($0) }
        let onScreen = options.onScreen
        let store = JournalSessionStore(journal: journal)
        let (fetcher, keeper) = try payCodeKeeper(config, token: token, client: client, http: http, store: store)
        let screen = DisplayScreenPort(
            output: display, logger: Logger(label: "drippay-kiosk.display"), payCodes: keeper,
            support: config.support, drawn: options.onDrawn
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
            invoices: DripPayInvoicePort(
                client: client, machineID: config.machineID, latency: latency, progressStore: store),
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
                machineTimeout: config.controller.machineTimeoutSeconds.map { .seconds($0) },
                refundNoticeTime: .seconds(config.support.noticeSeconds),
                latePaymentWatch: .seconds(config.vend.latePaymentWatchSeconds)),
            clock: ContinuousClock(), now: Date.init,
            onJournalHealth: { journalHealthSink.yield($0) })
        let gate = ServiceGate(coordinator: coordinator, status: status, metrics: metrics, logger: logger)
        let skipped = client.skippedInvoices
        let metricsFile = MetricsFile(
            metrics: metrics, journal: journal, path: config.metrics.textfile, logger: logger,
            malformedInvoices: { skipped.count })
        metricsFile.refresh()

        return DaemonParts(
            journal: journal, pruner: pruner, metricsFile: metricsFile, notifier: notifier, status: status,
            client: client, apiTrouble: apiTrouble, fetcher: fetcher, link: link, linkActivity: LinkActivity(),
            commandsSent: commandsSent, screen: screen, reopening: reopening, displayProblems: displayProblems,
            coordinator: coordinator, journalHealth: journalHealth, gate: gate)
    }

    /// The configured display, or the injected one. A framebuffer may appear late (udev loads its
    /// driver after the unit starts) or go away: out of service meanwhile, reopened with
    /// back-off, never a reason to exit.
    private static func openDisplay(
        _ displayOptions: DisplayOptions, options: KioskDaemonOptions
    ) async throws -> (any DisplayOutput, ReopeningDisplay?, AsyncStream<ServiceProblem?>) {
        let (displayProblems, displaySink) = AsyncStream.makeStream(of: ServiceProblem?.self)
        if let injected = options.display {
            displaySink.finish()
            return (injected, nil, displayProblems)
        } else if displayOptions.output == .framebuffer {
            let logger = Logger(label: "drippay-kiosk.display")
            // Another program switching the text console back (a getty's reset): redraw at once.
            let consoleChanged = Pulse()
            let framebuffer = ReopeningDisplay(
                device: displayOptions.device, backoff: options.linkBackoff, logger: logger,
                onChange: { displaySink.yield($0) }, redraw: consoleChanged,
                open: { () throws(DisplayError) -> any DisplayOutput in
                    try FramebufferOutput(
                        options: displayOptions, consoleChanged: { consoleChanged.signal() },
                        consoleNote: { logger.warning("display: \($0)") })
                }
            )
            do {
                try await framebuffer.start()
            } catch {
                throw DaemonError.display(error)
            }
            return (framebuffer, framebuffer, displayProblems)
        } else {
            displaySink.finish()
            do {
                return (try makeDisplayOutput(options: displayOptions), nil, displayProblems)
            } catch {
                throw DaemonError.display(error)
            }
        }
    }

    /// `[qr] source = "invoice-image"`: the pay screen fetches, decodes and keeps the invoice's own QR image.
    private static func payCodeKeeper(
        _ config: KioskConfiguration, token: APIToken, client: DripPayClient, http: CurlTransport,
        store: JournalSessionStore
    ) throws -> (QRImageFetcher?, PayCodeKeeper?) {
        guard config.qr.source == .invoiceImage else { return (nil, nil) }
        do {
            let imageFetcher = try QRImageFetcher(
                apiBaseURL: config.api.baseURL, token: token, timeout: .seconds(config.api.requestTimeoutSeconds),
                apiBudget: { [client] in try await client.acquireGeneralBudget() }, transport: http,
                logger: Logger(label: "drippay-kiosk.qr-image"))
            let keeperLogger = Logger(label: "drippay-kiosk.qr-image")
            let keeper = PayCodeKeeper(
                fetcher: imageFetcher,
                schedule: PayCodeSchedule(
                    refreshSeconds: Double(config.qr.refreshSeconds), budget: imageFetcher.plannedRequestsPerMinute),
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
            return (imageFetcher, keeper)
        } catch {
            throw DaemonError.api(.invalidBaseURL(config.api.baseURL, reason: "\(error)"))
        }
    }
}
