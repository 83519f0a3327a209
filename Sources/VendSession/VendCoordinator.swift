#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KioskCore

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

    private let invoices: any InvoicePort
    private let store: any SessionStore
    private let controller: any ControllerPort
    private let screen: any ScreenPort
    private let renderQR: QRPayloadRenderer
    private let planogram: Planogram
    private let policy: SessionPolicy
    /// Sleeps on the injected clock (a `ContinuousClock` in the daemon, a `ManualClock` in tests).
    private let sleeper: @Sendable (Duration) async throws -> Void
    private let now: @Sendable () -> Date

    private var machines: [TradeNo: VendSessionMachine] = [:]
    private var polling: [TradeNo: UInt64] = [:]
    private var timerGenerations: [TimerKey: UInt64] = [:]
    private var generation: UInt64 = 0
    private var screenOwner: TradeNo?
    /// What the service gate last said (API, serial link, shutdown).
    private var inService = true
    private var outOfServiceReason = ""
    /// Set while journal writes fail: the kiosk is out of service whatever the gate says, and a
    /// write probe runs until a write succeeds again.
    private var journalTrouble: String?
    /// Sessions dropped by a failed write, waiting to be settled again from the journal.
    private var parked: Set<TradeNo> = []
    /// What the controller was last told (effective availability and reason).
    private var announced = (available: true, reason: "")
    private let onJournalHealth: @Sendable (JournalHealth) -> Void

    private struct TimerKey: Hashable {
        let tradeNo: TradeNo
        let timer: SessionTimer
    }

    private let jobs: AsyncStream<Job>
    private let jobSink: AsyncStream<Job>.Continuation
    /// Each session's API calls, timers and poll loop run in that session's own task group
    /// (a child of `run()`); finishing its stream cancels them when the session leaves.
    private var sessionJobSinks: [TradeNo: AsyncStream<Job>.Continuation] = [:]
    private let commands: AsyncStream<(ControllerCommand, TradeNo?)>
    private let commandSink: AsyncStream<(ControllerCommand, TradeNo?)>.Continuation
    private enum ScreenUpdate: Sendable {
        case show(ScreenIntent)
        case notice(String?)
    }
    private let screens: AsyncStream<ScreenUpdate>
    private let screenSink: AsyncStream<ScreenUpdate>.Continuation
    /// Every session that leaves the coordinator, in order.
    public nonisolated let outcomes: AsyncStream<SessionOutcome>
    private let outcomeSink: AsyncStream<SessionOutcome>.Continuation

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
            let state = effectiveService
            enqueue(state.available ? .ready : .outOfService(reason: state.reason))
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

    /// Whether the daemon can take payments (API reachable, token abilities). A change is told
    /// to the controller (`READY` / `OUT-OF-SERVICE`) and shown.
    public func setService(available: Bool, reason: String) async {
        inService = available
        outOfServiceReason = available ? "" : reason
        announceService()
    }

    /// Whether the journal can be written now (false from a failed write until a probe succeeds).
    public func journalWritable() -> Bool { journalTrouble == nil }

    /// Payments are taken only when the gate allows it and the journal can be written.
    private var effectiveService: (available: Bool, reason: String) {
        if journalTrouble != nil { return (false, Self.journalReason) }
        return (inService, inService ? "" : outOfServiceReason)
    }

    static let journalReason = "journal unwritable"

    /// Tells the controller and the screen when the effective service state changed.
    private func announceService() {
        let state = effectiveService
        guard state != announced else { return }
        announced = state
        enqueue(state.available ? .ready : .outOfService(reason: state.reason))
        if screenOwner == nil {
            showIdleIfFree()
        } else {
            // A vend is open: it goes on (the controller's disable waits for its end), and its
            // customer reads what is wrong on the pay screen; the next screen drops the notice.
            screenSink.yield(.notice(state.available ? nil : Self.goingOutOfServiceNotice(state.reason)))
        }
    }

    /// The pay screen's notice while out of service waits for the open vend to end.
    public static func goingOutOfServiceNotice(_ reason: String) -> String {
        "This machine goes out of service after this sale: \(reason)"
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

    private func journalUnwritable(_ error: any Error) {
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

    private func probeJournal(attempt: Int) async {
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

    /// Settles every session the journal holds open (product.md section 4). Call before `run()`
    /// starts taking controller events. Throws when the journal cannot be read.
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

    // MARK: Controller events

    private func vendRequested(_ request: VendRequest) {
        if let tradeNo = machines.first(where: { $0.value.record.vendID == request.id })?.key {
            deliver(.controllerReclaimed(request), to: tradeNo)
            return
        }
        let previous: SessionRecord?
        do {
            previous = try store.latestSession(vendID: request.id)
        } catch {
            journalUnwritable(error)
            enqueue(.deny(request.id, .error))
            return
        }
        if let previous {
            if previous.state.isFinal {
                _ = try? store.appendEvent(
                    tradeNo: previous.tradeNo, event: .duplicateVend, detail: "VEND \(request.id) after the session ended", at: now())
                enqueue(.deny(request.id, .duplicateID))
                return
            }
            // Open in the journal but not in memory (recovery not run for it): recover, then re-claim.
            let (machine, effects) = VendSessionMachine.recover(previous, policy: policy, now: now())
            machines[previous.tradeNo] = machine
            execute(effects, for: previous.tradeNo)
            guard machines[previous.tradeNo] != nil else {
                // Recovery settled it at once (a dispense of unknown outcome): the vend is over.
                enqueue(.deny(request.id, .duplicateID), for: previous.tradeNo)
                return
            }
            deliver(.controllerReclaimed(request), to: previous.tradeNo)
            return
        }
        // A controller that asks for another vend no longer waits for the result of a DISPENSE (its
        // DISPENSED/FAILED was lost): that outcome is unknown, and it must not block every later vend.
        for (tradeNo, machine) in machines where machine.phase == .dispensing {
            deliver(
                .controllerGone(reason: "VEND \(request.id) while the result of DISPENSE \(machine.record.vendID) was awaited"),
                to: tradeNo)
        }
        guard effectiveService.available, !machines.values.contains(where: \.controllerWaiting) else {
            enqueue(.deny(request.id, .unavailable))
            return
        }
        guard let description = planogram(request.product), request.price.minorUnits > 0 else {
            enqueue(.deny(request.id, .invalid))
            return
        }
        let at = now()
        let record: SessionRecord
        do {
            // The trade_no and the session that uses it in one commit, before the create sends it.
            record = try store.insertNew(
                now: at, event: .requested, detail: "VEND \(request.id) \(request.product) \(request.price)"
            ) { tradeNo in
                SessionRecord(
                    tradeNo: tradeNo, vendID: request.id, product: request.product, itemDescription: description,
                    price: request.price, state: .requested, createdAt: at, updatedAt: at)
            }
        } catch {
            journalUnwritable(error)
            enqueue(.deny(request.id, .error))
            return
        }
        machines[record.tradeNo] = VendSessionMachine(newSession: record, policy: policy)
        deliver(.start, to: record.tradeNo)
    }

    private func route(_ id: VendID, _ event: SessionEvent) {
        guard let tradeNo = machines.first(where: { $0.value.record.vendID == id })?.key else { return }
        deliver(event, to: tradeNo)
    }

    private func controllerGone(_ reason: String) {
        for (tradeNo, machine) in machines where machine.controllerWaiting {
            deliver(.controllerGone(reason: reason), to: tradeNo)
        }
    }

    // MARK: Running machines

    private func deliver(_ event: SessionEvent, to tradeNo: TradeNo) {
        guard var machine = machines[tradeNo] else { return }
        let effects = machine.handle(event, now: now())
        machines[tradeNo] = machine
        execute(effects, for: tradeNo)
    }

    /// Carries out effects in order; stops at the first journal write that fails.
    ///
    /// Consecutive `persist` effects with only `stopPolling` between them (the machine's `paid`
    /// then `dispensing`) are one commit: every effect after them still waits for it, and a crash
    /// leaves the journal before the first or after the last, never between (recovery settles
    /// `invoiced` and `dispensing` as it always did; see docs/money-safety.md).
    private func execute(_ effects: [SessionEffect], for tradeNo: TradeNo) {
        var committed = Set<Int>()
        for (index, effect) in effects.enumerated() {
            switch effect {
            case .persist(let record, let event, let detail):
                if committed.contains(index) { continue }
                var steps = [(record: record, event: event, detail: detail)]
                var next = index + 1
                var last = index
                scan: while next < effects.count {
                    switch effects[next] {
                    case .stopPolling: break
                    case .persist(let later, let laterEvent, let laterDetail):
                        steps.append((later, laterEvent, laterDetail))
                        last = next
                    default: break scan
                    }
                    next += 1
                }
                do {
                    try store.update(steps: steps)
                } catch {
                    let failed = steps.map(\.event.rawValue).joined(separator: "+")
                    journalFailed(
                        tradeNo, unwritten: steps[steps.count - 1].record, events: failed, error: error,
                        rest: effects[(last + 1)...])
                    return
                }
                for later in (index + 1)..<(last + 1) { committed.insert(later) }
            case .log(let event, let detail):
                // An audit line; a failure to add it changes nothing about the session, but it
                // means the journal cannot be written: out of service until it can.
                do {
                    try store.appendEvent(
                        tradeNo: tradeNo, event: event, detail: detail, at: now(), durable: Self.isDurableNote(event))
                } catch {
                    journalUnwritable(error)
                }
            case .createInvoice:
                guard let record = machines[tradeNo]?.record else { return }
                let offerBy = policy.offerDeadline(vendArrivedAt: record.createdAt)
                submit(for: tradeNo) { [invoices, renderQR] in
                    let event: SessionEvent
                    do throws(InvoiceCreateFailure) {
                        let info = try await invoices.createInvoice(
                            tradeNo: record.tradeNo, description: record.itemDescription, price: record.price,
                            offerBy: offerBy)
                        event = .invoiceCreated(info, qrPayload: renderQR(info, record.tradeNo))
                    } catch {
                        event = .invoiceCreateFailed(error)
                    }
                    await self.deliver(event, to: tradeNo)
                }
            case .lookupInvoice(let lookup):
                let since = machines[tradeNo]?.record.createdAt ?? now()
                submit(for: tradeNo) { [invoices, renderQR] in
                    let event: SessionEvent
                    do {
                        if let info = try await invoices.findInvoice(tradeNo: lookup, since: since) {
                            event = .invoiceFound(info, qrPayload: renderQR(info, lookup))
                        } else {
                            event = .invoiceNotFound
                        }
                    } catch {
                        event = .lookupFailed(String(describing: error))
                    }
                    await self.deliver(event, to: tradeNo)
                }
            case .startPolling(let reference):
                generation += 1
                let current = generation
                polling[tradeNo] = current
                submit(for: tradeNo) { await self.pollLoop(tradeNo, reference, generation: current) }
            case .stopPolling:
                polling[tradeNo] = nil
            case .cancelInvoice(let reference):
                submit(for: tradeNo) { [invoices] in
                    let outcome = await invoices.cancel(reference)
                    await self.deliver(.cancelAnswered(outcome), to: tradeNo)
                }
            case .checkStatus(let reference):
                submit(for: tradeNo) { [invoices] in
                    let event: SessionEvent
                    do {
                        event = .statusPolled(try await invoices.status(of: reference))
                    } catch is InvoiceNotFound {
                        event = .invoiceGone
                    } catch {
                        event = .pollFailed(String(describing: error))
                    }
                    await self.deliver(event, to: tradeNo)
                }
            case .startTimer(let timer, let at):
                generation += 1
                let current = generation
                let key = TimerKey(tradeNo: tradeNo, timer: timer)
                timerGenerations[key] = current
                let delay = Duration.milliseconds(Int64((max(0, at.timeIntervalSince(now())) * 1000).rounded(.up)))
                submit(for: tradeNo) {
                    do { try await self.sleep(for: delay) } catch { return }
                    await self.timerFired(key, generation: current)
                }
            case .show(let intent):
                if case .pay = intent { screenOwner = tradeNo }
                if screenOwner == tradeNo { screenSink.yield(.show(intent)) }
            case .send(let command):
                enqueue(command, for: tradeNo)
            case .finished(let state):
                forget(tradeNo, ending: .finished(state))
            }
        }
    }

    /// Whether a `.log` note is committed with its own fsync. `dispense_sent` is not: it is
    /// written after `DISPENSE` went out, on every vend, and recovery never reads it (a session
    /// journaled `dispensing` becomes `dispense_unknown` whether the note is there or not; recovery
    /// reads sessions, never events). A power cut may lose it; a process crash does not, and the
    /// vend's next commit (`dispensed`, ...) makes it durable. Every other note keeps its fsync.
    static func isDurableNote(_ event: JournalEventKind) -> Bool { event != .dispenseSent }

    /// A journal write failed: never go on (no DISPENSE, no ACCEPT without its record). The
    /// controller still gets its answer: a `DENY` the machine produced after the write goes out
    /// (a DENY never authorises anything), and a controller still waiting with no DISPENSE out is
    /// denied `error`. The session is dropped from memory as the journal last holds it, reported
    /// (an event and the outcome name the write that was lost), and settled again from the journal
    /// once it can be written (resettle), so what could not be written is retried.
    private func journalFailed(
        _ tradeNo: TradeNo, unwritten record: SessionRecord, events: String, error: any Error,
        rest: ArraySlice<SessionEffect>
    ) {
        guard let machine = machines[tradeNo] else { return }
        // The machine decides `paid` and `dispensing` in one batch: if either write failed, the
        // DISPENSE after them never went out. Only a later write (dispensed, ...) follows a DISPENSE.
        let dispenseWentOut = machine.dispenseCommanded && record.state != .dispensing && record.state != .paid
        var denied = false
        for effect in rest {
            if case .send(.deny(let id, let reason)) = effect {
                enqueue(.deny(id, reason), for: tradeNo)
                denied = true
            }
        }
        if !denied, machine.controllerWaiting, !machine.denySent, !dispenseWentOut {
            enqueue(.deny(machine.record.vendID, .error), for: tradeNo)
        }
        // Then out of service (after the DENY: the controller first hears how its vend ended).
        journalUnwritable(error)
        let reason = "journal write failed (\(events) -> \(record.state.rawValue)): \(error)"
        // Best effort: the event table may still take a row when the session row cannot change.
        _ = try? store.appendEvent(tradeNo: tradeNo, event: .journalWriteFailed, detail: reason, at: now())
        forget(tradeNo, ending: .parked(reason: reason))
        parked.insert(tradeNo)
        scheduleResettle(tradeNo)
    }

    /// A parked session is settled again from the journal once it can be written: while the daemon
    /// runs, a paid invoice must not wait for a restart to become refund due (rule 2), nor an
    /// abandoned one to be cancelled at the API (rule 4).
    private func scheduleResettle(_ tradeNo: TradeNo) {
        let pause = policy.retryMax
        jobSink.yield {
            do { try await self.sleep(for: pause) } catch { return }
            await self.resettle(tradeNo)
        }
    }

    private func resettle(_ tradeNo: TradeNo) {
        guard machines[tradeNo] == nil else {  // a re-claim recovered it meanwhile
            parked.remove(tradeNo)
            return
        }
        let record: SessionRecord?
        do {
            record = try store.openSessions().first { $0.tradeNo == tradeNo }
        } catch {
            scheduleResettle(tradeNo)
            return
        }
        parked.remove(tradeNo)
        guard let record else { return }
        let (machine, effects) = VendSessionMachine.recover(record, policy: policy, now: now())
        machines[tradeNo] = machine
        execute(effects, for: tradeNo)
    }

    private func forget(_ tradeNo: TradeNo, ending: SessionOutcome.Ending) {
        guard let machine = machines.removeValue(forKey: tradeNo) else { return }
        polling[tradeNo] = nil
        sessionJobSinks.removeValue(forKey: tradeNo)?.finish()
        for timer in SessionTimer.allCases { timerGenerations[TimerKey(tradeNo: tradeNo, timer: timer)] = nil }
        if screenOwner == tradeNo {
            screenOwner = nil
            if ending != .finished(.dispensed) {
                // Leave the result up for a moment, then the idle screen (unless a new vend took it);
                // a parked session's QR must not stay up either.
                let pause = policy.resultScreenTime
                jobSink.yield {
                    do { try await self.sleep(for: pause) } catch { return }
                    await self.showIdleIfFree()
                }
            }
        }
        outcomeSink.yield(SessionOutcome(record: machine.record, ending: ending))
    }

    private func showIdleIfFree() {
        guard screenOwner == nil else { return }
        let state = effectiveService
        screenSink.yield(.show(state.available ? .idle : .outOfService(reason: state.reason)))
    }

    private func timerFired(_ key: TimerKey, generation current: UInt64) {
        guard timerGenerations[key] == current else { return }  // replaced or session ended
        timerGenerations[key] = nil
        deliver(.timerFired(key.timer), to: key.tradeNo)
    }

    /// Polls one invoice back to back (the API client paces `status` by its rate limiter), with
    /// the policy's floor between calls and a back-off while the API fails. Ends as soon as the
    /// session stops polling, so nothing polls while idle.
    private func pollLoop(_ tradeNo: TradeNo, _ reference: InvoiceReference, generation current: UInt64) async {
        var failures = 0
        while !Task.isCancelled, polling[tradeNo] == current {
            var delay = policy.pollFloor
            do {
                let status = try await invoices.status(of: reference)
                failures = 0
                // Delivered even if polling stopped meanwhile: a late `paid` must not be lost.
                deliver(.statusPolled(status), to: tradeNo)
            } catch is InvoiceNotFound {
                deliver(.invoiceGone, to: tradeNo)
            } catch {
                failures += 1
                deliver(.pollFailed(String(describing: error)), to: tradeNo)
                for _ in 0..<min(failures, 16) where delay < policy.pollBackoffMax { delay = delay * 2 }
                delay = min(delay, policy.pollBackoffMax)
            }
            guard polling[tradeNo] == current else { return }
            do { try await sleep(for: delay) } catch { return }
        }
    }

    // MARK: Output

    private func enqueue(_ command: ControllerCommand, for tradeNo: TradeNo? = nil) {
        commandSink.yield((command, tradeNo))
    }

    private func drainCommands() async {
        for await (command, tradeNo) in commands {
            do {
                try await controller.send(command)
                if case .dispense = command, let tradeNo { deliver(.dispenseSent, to: tradeNo) }
            } catch {
                if case .dispense = command, let tradeNo {
                    deliver(.dispenseSendFailed(String(describing: error)), to: tradeNo)
                } else if let tradeNo {
                    _ = try? store.appendEvent(tradeNo: tradeNo, event: .sendFailed, detail: "\(command): \(error)", at: now())
                }
            }
        }
    }

    private func drainScreens() async {
        for await update in screens {
            switch update {
            case .show(let intent): await screen.show(intent)
            case .notice(let notice): await screen.showNotice(notice)
            }
        }
    }

    private func submit(for tradeNo: TradeNo, _ job: @escaping Job) {
        if let sink = sessionJobSinks[tradeNo] {
            sink.yield(job)
            return
        }
        let (sessionJobs, sink) = AsyncStream<Job>.makeStream()
        sessionJobSinks[tradeNo] = sink
        sink.yield(job)
        jobSink.yield {
            await withDiscardingTaskGroup { group in
                for await job in sessionJobs {
                    group.addTask { await job() }
                }
                // The session left: its timers, poll loop and API calls still running are moot.
                group.cancelAll()
            }
        }
    }

    private func sleep(for duration: Duration) async throws {
        try await sleeper(duration)
    }
}
