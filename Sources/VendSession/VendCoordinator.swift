import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How a session left the coordinator.
public struct SessionOutcome: Hashable, Sendable {
    public enum Ending: Hashable, Sendable {
        /// The session reached this final state (journaled).
        case finished(SessionState)
        /// The journal could not be written; the session was dropped from memory as the journal
        /// last holds it, and recovery on the next start settles it.
        case parked(reason: String)
    }

    public let record: SessionRecord
    public let ending: Ending
}

/// Runs vend sessions: feeds controller events, API answers and timers to each session's
/// `VendSessionMachine` and carries out the effects through the ports, in order. One vend at a
/// time is served to the controller; sessions that only wait for the API (a cancel to retry,
/// a recovery grace) run alongside without blocking new vends.
///
/// Effects run synchronously on the actor (journal writes are synchronous and durable), API
/// calls and timers run as child tasks of `run()`, and controller/screen output goes through
/// FIFO queues drained by `run()`. So a `persist` always precedes the `DISPENSE` it authorises,
/// and commands reach the controller in the order the machines produced them.
public actor VendCoordinator {
    public typealias Job = @Sendable () async -> Void

    let invoices: any InvoicePort
    let store: any SessionStore
    let controller: any ControllerPort
    let screen: any ScreenPort
    let renderQR: QRPayloadRenderer
    let planogram: Planogram
    let policy: SessionPolicy
    /// Sleeps on the injected clock (a `ContinuousClock` in the daemon, a `ManualClock` in tests).
    let sleeper: @Sendable (Duration) async throws -> Void
    let now: @Sendable () -> Date

    var machines: [TradeNo: VendSessionMachine] = [:]
    var polling: [TradeNo: UInt64] = [:]
    var timerGenerations: [TimerKey: UInt64] = [:]
    var generation: UInt64 = 0
    var screenOwner: TradeNo?
    /// What the service gate last said (API, serial link, display, adapter, start, shutdown).
    var gateState: ServiceState = .inService
    /// Set while journal writes fail: the kiosk is out of service whatever the gate says, and a
    /// write probe runs until a write succeeds again.
    var journalTrouble: String?
    /// Sessions dropped by a failed write, waiting to be settled again from the journal.
    var parked: Set<TradeNo> = []
    /// What the controller was last told (`READY` or `OUT-OF-SERVICE <reason>`).
    var announced: ControllerCommand = .ready
    let onJournalHealth: @Sendable (JournalHealth) -> Void

    struct TimerKey: Hashable {
        let tradeNo: TradeNo
        let timer: SessionTimer
    }

    let jobs: AsyncStream<Job>
    let jobSink: AsyncStream<Job>.Continuation
    /// Each session's API calls, timers and poll loop run in that session's own task group
    /// (a child of `run()`); finishing its stream cancels them when the session leaves.
    var sessionJobSinks: [TradeNo: AsyncStream<Job>.Continuation] = [:]
    let commands: AsyncStream<(ControllerCommand, TradeNo?)>
    let commandSink: AsyncStream<(ControllerCommand, TradeNo?)>.Continuation
    enum ScreenUpdate: Sendable {
        case show(ScreenIntent)
        case notice(String?)
    }
    let screens: AsyncStream<ScreenUpdate>
    let screenSink: AsyncStream<ScreenUpdate>.Continuation
    /// Every session that leaves the coordinator, in order.
    public nonisolated let outcomes: AsyncStream<SessionOutcome>
    let outcomeSink: AsyncStream<SessionOutcome>.Continuation

    /// - Parameters:
    ///   - clock: drives every timer and poll pause (`ContinuousClock()` in the daemon).
    ///   - now: wall time for deadlines and journal timestamps (`Date.init` in the daemon).
    public init<C: Clock>(
        invoices: any InvoicePort, store: any SessionStore, controller: any ControllerPort, screen: any ScreenPort,
        renderQR: @escaping QRPayloadRenderer, planogram: @escaping Planogram, policy: SessionPolicy,
        clock: C, now: @escaping @Sendable () -> Date,
        onJournalHealth: @escaping @Sendable (JournalHealth) -> Void = { _ in }
    ) where C.Duration == Duration {
        self.onJournalHealth = onJournalHealth
        self.invoices = invoices
        self.store = store
        self.controller = controller
        self.screen = screen
        self.renderQR = renderQR
        self.planogram = planogram
        self.policy = policy
        self.sleeper = { duration in try await clock.sleep(for: duration) }
        self.now = now
        (jobs, jobSink) = AsyncStream.makeStream()
        (commands, commandSink) = AsyncStream.makeStream()
        (screens, screenSink) = AsyncStream.makeStream()
        // Bounded: a daemon that never reads outcomes must not grow without end.
        (outcomes, outcomeSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(256))
    }

    // MARK: Entry points

    /// Runs API calls, polling, timers and output until cancelled. Call once. On cancellation
    /// the sessions in flight are simply left: the journal holds them and recovery settles them.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.drainCommands() }
            group.addTask { await self.drainScreens() }
            for await job in jobs {
                group.addTask { await job() }
            }
            group.cancelAll()
        }
    }

    /// A controller event from the controller link.
    public func handle(_ event: ControllerEvent) async {
        switch event {
        case .ping:
            enqueue(.pong)
        case .malformed(_, let reason):
            enqueue(.error(message: reason))
        case .hello(let name, let version):
            controllerGone("controller restarted (HELLO \(name) \(version))")
            enqueue(effectiveService.command)
        case .unavailable(let reason):
            controllerGone("controller disabled payments: \(reason)")
        case .setUpRefused(let reason):
            // The service gate takes the kiosk out of service for it (the daemon routes it there).
            controllerGone("the payment adapter refused its set-up: \(reason)")
        case .setUpDone:
            break  // the gate's adapter cause clears
        case .vendRequested(let request):
            vendRequested(request)
        case .vendAborted(let id):
            route(id, .controllerAborted)
        case .dispensed(let id):
            route(id, .controllerDispensed)
        case .dispenseFailed(let id, let reason):
            route(id, .controllerDispenseFailed(reason: reason))
        case .dispenseUnknown(let id, let reason):
            // Only sent after the dispense was commanded: the session is dispensing, and a
            // controller gone while dispensing ends `dispense_unknown`.
            route(id, .controllerGone(reason: reason))
        }
    }

    /// The serial link went down or came back.
    public func linkChanged(up: Bool) async {
        if !up { controllerGone("serial link down") }
    }

    /// What the service gate decided (API, link, display, adapter set-up, start, shutdown). A
    /// change of what the kiosk does (this and the journal's health) is told to the controller
    /// (`READY` / `OUT-OF-SERVICE`) and shown; `reannounce` tells the controller again even
    /// without a change (the link reopened: the controller may have restarted). The controller
    /// hears the service state from here only, through the output queue, so it never hears
    /// `READY` while the journal takes no writes.
    public func setService(_ state: ServiceState, reannounce: Bool = false) async {
        gateState = state
        announceService(reannounce: reannounce)
    }

    /// Whether the journal can be written now (false from a failed write until a probe succeeds).
    public func journalWritable() -> Bool { journalTrouble == nil }

    /// Payments are taken only when the gate allows it and the journal can be written.
    var effectiveService: ServiceState { journalTrouble != nil ? .journalUnwritable : gateState }

    /// Tells the controller and the screen when the effective service state changed (the
    /// controller also when `reannounce`).
    func announceService(reannounce: Bool = false) {
        let state = effectiveService
        let changed = state.command != announced
        guard changed || reannounce else { return }
        announced = state.command
        enqueue(state.command)
        guard changed else { return }
        if screenOwner == nil {
            showIdleIfFree()
        } else {
            // A vend is open: it goes on (the controller's disable waits for its end), and its
            // customer reads on the pay screen that the machine goes out of service after it;
            // the next screen drops the notice.
            screenSink.yield(.notice(state.reason))
        }
    }

    /// A journal write (or the read before a vend) failed. If the write probe fails too, the
    /// storage takes no writes (full, read-only): out of service until a probe succeeds again,
    /// reported once per episode, probing with back-off. If the probe succeeds, the failure was
    /// that write's own (the session is parked and settled again as before), not the storage's.
    /// A journal write outside a session failed (the watchdog's probe): the same as a session's
    /// failed write, so an idle kiosk on a full or read-only card goes out of service before the
    /// next customer instead of after their vend request.
    public func noticeJournalFault(_ error: any Error) {
        journalUnwritable(error)
    }

    func journalUnwritable(_ error: any Error) {
        guard journalTrouble == nil else { return }
        do {
            try store.probeWrite(at: now())
            return
        } catch {
            // The storage itself refuses writes.
        }
        let detail = String(describing: error)
        journalTrouble = detail
        onJournalHealth(.unwritable(detail))
        announceService()
        jobSink.yield { await self.probeJournal(attempt: 1) }
    }

    func probeJournal(attempt: Int) async {
        do { try await sleep(for: policy.retryDelay(attempt: attempt)) } catch { return }
        do {
            try store.probeWrite(at: now())
        } catch {
            journalTrouble = String(describing: error)
            jobSink.yield { await self.probeJournal(attempt: attempt + 1) }
            return
        }
        journalTrouble = nil
        onJournalHealth(.writable)
        announceService()
        // Sessions parked by the failure are settled now rather than at their next resettle.
        for tradeNo in parked { resettle(tradeNo) }
    }

    /// Settles every session the journal holds open (docs/money-safety.md, "Crash recovery").
    /// Call before `run()` starts taking controller events. Throws when the journal cannot be read.
    public func recoverOnStart() async throws {
        for record in try store.openSessions() where machines[record.tradeNo] == nil {
            let (machine, effects) = VendSessionMachine.recover(record, policy: policy, now: now())
            machines[record.tradeNo] = machine
            execute(effects, for: record.tradeNo)
        }
    }

    /// Shutdown with a controller that cannot re-claim a vend after a restart (qibixx-mdb): every
    /// invoice awaiting payment is cancelled now, with a re-check. Returns the sessions doing so;
    /// they leave through `outcomes` as usual.
    public func abandonUnclaimable() -> [TradeNo] {
        var abandoned: [TradeNo] = []
        for tradeNo in machines.keys.sorted() {
            guard var machine = machines[tradeNo] else { continue }
            let effects = machine.abandonForShutdown(now: now())
            guard !effects.isEmpty else { continue }
            machines[tradeNo] = machine
            abandoned.append(tradeNo)
            execute(effects, for: tradeNo)
        }
        return abandoned
    }

    /// Draws `intent` now whoever owns the screen (the last screen before the daemon exits: a pay
    /// screen must not stay up on a framebuffer after it).
    public func showFinalScreen(_ intent: ScreenIntent) {
        screenOwner = nil
        screenSink.yield(.show(intent))
    }

    /// The sessions in memory (open ones), ordered by trade_no.
    public func openSessions() -> [VendSessionMachine] {
        machines.values.sorted { $0.record.tradeNo < $1.record.tradeNo }
    }

    /// How many sessions are being polled right now (zero while idle).
    public func pollingCount() -> Int { polling.count }
}
