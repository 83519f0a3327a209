import Foundation
import KioskCore
import KioskDaemon
import KioskTestSupport
import Testing
import VendSession

@testable import KioskJournal

/// Lock-protected state for fakes that are called from the coordinator's tasks.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func read<T>(_ body: (Value) throws -> T) rethrows -> T { try lock.withLock { try body(value) } }
    func write<T>(_ body: (inout Value) throws -> T) rethrows -> T { try lock.withLock { try body(&value) } }
    var get: Value { lock.withLock { value } }
}

/// One ordered log shared by the fake store and the fake controller, to assert call order.
typealias CallLog = Locked<[String]>

struct FakeError: Error, CustomStringConvertible {
    let description: String
}

final class FakeInvoices: InvoicePort, @unchecked Sendable {
    struct State {
        var create: Result<InvoiceInfo, InvoiceCreateFailure> = .success(invoice())
        var find: Result<InvoiceInfo?, FakeError> = .success(nil)
        var status: Result<InvoiceStatus, FakeError> = .success(.pending)
        var cancel: CancelOutcome = .cancelled
        /// Like the sandbox and Laravel soft deletes: a cancelled invoice answers 404.
        var cancelledAnswers404 = false
        var creates = 0
        var finds = 0
        var statusCalls = 0
        var cancels = 0
    }
    let state = Locked(State())
    let log: CallLog
    /// When set, creates wait until `releaseCreates()` (a slow API).
    let heldCreates = Locked<[CheckedContinuation<Void, Never>]?>(nil)
    init(log: CallLog) { self.log = log }

    func holdCreates() { heldCreates.write { $0 = $0 ?? [] } }

    var createsWaiting: Int { heldCreates.read { $0?.count ?? 0 } }

    func releaseCreates() {
        let waiting = heldCreates.write { held -> [CheckedContinuation<Void, Never>] in
            defer { held = nil }
            return held ?? []
        }
        for continuation in waiting { continuation.resume() }
    }

    func createInvoice(
        tradeNo: TradeNo, description: String, price: Money, offerBy: Date
    )
        async throws(InvoiceCreateFailure) -> InvoiceInfo
    {
        log.write { $0.append("api.create \(tradeNo)") }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let held = heldCreates.write { held -> Bool in
                guard held != nil else { return false }
                held?.append(continuation)
                return true
            }
            if !held { continuation.resume() }
        }
        return try state.write { s in
            s.creates += 1
            return s.create
        }.get()
    }

    func findInvoice(tradeNo: TradeNo, since: Date) async throws -> InvoiceInfo? {
        log.write { $0.append("api.find \(tradeNo)") }
        return try state.write { s in
            s.finds += 1
            return s.find
        }.get()
    }

    func status(of reference: InvoiceReference) async throws -> InvoiceStatus {
        try state.write { s in
            s.statusCalls += 1
            if s.cancelledAnswers404, case .success(.cancelled) = s.status {
                throw InvoiceNotFound(reference: reference)
            }
            return try s.status.get()
        }
    }

    func cancel(_ reference: InvoiceReference) async -> CancelOutcome {
        log.write { $0.append("api.cancel \(reference)") }
        return state.write { s in
            s.cancels += 1
            // As at the real API: a paid invoice cannot be cancelled (422), and a cancel that took
            // effect makes the status cancelled.
            if case .success(.paid) = s.status { return .alreadyPaid }
            if s.cancel == .cancelled { s.status = .success(.cancelled) }
            return s.cancel
        }
    }
}

/// Which session store a coordinator test runs against: the in-memory fake or the real journal.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case fake
    case journal
    var testDescription: String { rawValue == "fake" ? "fake store" : "real journal (JournalSessionStore, SQLite)" }
}

/// The coordinator's store in tests. With `.fake` the sessions live in memory and every update is
/// checked by the journal's own transition rules (`Journal.checkTransition`), so the fake refuses
/// what the journal refuses. With `.journal` every call goes to a real `JournalSessionStore` over
/// a temporary SQLite file (trade numbers, transitions, reads, durability are the journal's).
///
/// Either way, injected faults (`failUpdatesTo`, `readOnly`) fail a call before it reaches the
/// store, and the counters and call log record only calls the store accepted. The journal hands out
/// its own trade numbers; tests name the n-th new session `T-n` (`tradeNo(_:)`) with either store.
final class FakeStore: SessionStore, @unchecked Sendable {
    struct State {
        var records: [TradeNo: SessionRecord] = [:]
        var events: [(TradeNo, String)] = []
        var next = 0
        /// `T-n` -> the trade number the store gave the n-th new session.
        var names: [String: TradeNo] = [:]
        /// Updates to this state fail (a full disk, say).
        var failUpdatesTo: SessionState?
        /// Every write fails (a card remounted read-only): inserts, updates, events, the probe.
        var readOnly = false
        var probes = 0
        /// Durable commits (a transaction each), and notes written without an fsync.
        var commits = 0
        var nonDurableNotes = 0
    }
    let state = Locked(State())
    let log: CallLog
    let kind: StoreKind
    /// The real store when `kind == .journal`.
    let journal: JournalSessionStore?
    /// The temporary directory holding the journal file, removed by `removeFiles()`.
    let directory: String?

    init(log: CallLog, records: [SessionRecord] = [], kind: StoreKind = .fake) {
        self.log = log
        self.kind = kind
        switch kind {
        case .fake:
            journal = nil
            directory = nil
            state.write { s in for record in records { s.records[record.tradeNo] = record } }
        case .journal:
            let directory = NSTemporaryDirectory() + "vendsession-journal-\(UUID().uuidString.prefix(8))"
            self.directory = directory
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let journal = try Journal.open(path: directory + "/journal.sqlite", machineID: "test-kiosk")
                // Seeded sessions as an earlier run of the daemon left them (explicit trade numbers).
                for record in records { try journal.insert(record, event: "seeded", detail: "test set-up") }
                self.journal = JournalSessionStore(journal: journal)
            } catch {
                fatalError("could not open a test journal in \(directory): \(error)")
            }
        }
    }

    /// Removes the journal's temporary directory (after the coordinator has stopped).
    func removeFiles() {
        journal?.journal.close()
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    static let readOnlyError = FakeError(description: "journal.sqlite: attempt to write a readonly database (EROFS)")

    /// The trade number of the session tests call `name` (`T-1` is the first new session).
    func tradeNo(_ name: String) -> TradeNo { state.read { $0.names[name] } ?? TradeNo(name) }

    private func name(of tradeNo: TradeNo) -> String {
        state.read { s in s.names.first { $0.value == tradeNo }?.key } ?? tradeNo.rawValue
    }

    func insertNew(
        now: Date, event: JournalEventKind, detail: String, _ make: (TradeNo) -> SessionRecord
    ) throws
        -> SessionRecord
    {
        let (record, name) = try state.write { s -> (SessionRecord, String) in
            if s.readOnly { throw Self.readOnlyError }
            let name = "T-\(s.next + 1)"
            let record: SessionRecord
            if let journal {
                record = try journal.insertNew(now: now, event: event, detail: detail, make)
            } else {
                record = make(TradeNo(name))
            }
            s.next += 1
            s.names[name] = record.tradeNo
            s.records[record.tradeNo] = record
            s.events.append((record.tradeNo, event.rawValue))
            s.commits += 1
            return (record, name)
        }
        log.write { $0.append("store.insert \(name) \(record.state.rawValue)") }
        return record
    }

    /// All steps or none, as the journal's one transaction, each checked by the journal's rules.
    func update(steps: [(record: SessionRecord, event: JournalEventKind, detail: String)]) throws {
        try state.write { s in
            for step in steps where s.failUpdatesTo == step.record.state { throw FakeError(description: "disk full") }
            if s.readOnly { throw Self.readOnlyError }
            if let journal {
                try journal.update(steps: steps)
            } else {
                var records = s.records
                for step in steps {
                    guard let stored = records[step.record.tradeNo] else {
                        throw JournalError.unknownSession(step.record.tradeNo, path: "fake store")
                    }
                    try Journal.checkTransition(from: stored, to: step.record, path: "fake store")
                    records[step.record.tradeNo] = step.record
                }
            }
            for step in steps {
                s.records[step.record.tradeNo] = step.record
                s.events.append((step.record.tradeNo, step.event.rawValue))
            }
            s.commits += 1
        }
        log.write { log in
            for step in steps {
                log.append("store.update \(name(of: step.record.tradeNo)) \(step.record.state.rawValue)")
            }
        }
    }

    func appendEvent(tradeNo: TradeNo, event: JournalEventKind, detail: String, at: Date, durable: Bool) throws {
        try state.write { s in
            if s.readOnly { throw Self.readOnlyError }
            if let journal {
                try journal.appendEvent(tradeNo: tradeNo, event: event, detail: detail, at: at, durable: durable)
            } else if s.records[tradeNo] == nil {
                throw JournalError.unknownSession(tradeNo, path: "fake store")
            }
            s.events.append((tradeNo, event.rawValue))
            if durable { s.commits += 1 } else { s.nonDurableNotes += 1 }
        }
    }

    func probeWrite(at: Date) throws {
        try state.write { s in
            s.probes += 1
            if s.readOnly { throw Self.readOnlyError }
            try journal?.probeWrite(at: at)
        }
    }

    func openSessions() throws -> [SessionRecord] {
        if let journal { return try journal.openSessions() }
        return state.read { $0.records.values.filter { !$0.state.isFinal }.sorted { $0.tradeNo < $1.tradeNo } }
    }

    func latestSession(vendID: VendID) throws -> SessionRecord? {
        if let journal { return try journal.latestSession(vendID: vendID) }
        return state.read { $0.records.values.filter { $0.vendID == vendID }.max { $0.createdAt < $1.createdAt } }
    }

    /// The stored session tests call `name` (read from the journal file with the real store).
    func record(_ name: String) -> SessionRecord? {
        let tradeNo = tradeNo(name)
        if let journal {
            do {
                return try journal.journal.session(tradeNo: tradeNo)
            } catch {
                Issue.record("reading \(name) (\(tradeNo)) from the test journal failed: \(error)")
                return nil
            }
        }
        return state.read { $0.records[tradeNo] }
    }
}

final class FakeController: ControllerPort, @unchecked Sendable {
    let sent = Locked<[ControllerCommand]>([])
    let log: CallLog
    init(log: CallLog) { self.log = log }

    /// When set, a `DISPENSE` write fails with this error (after it is recorded as sent).
    let dispenseFailure = Locked<PartWrite?>(nil)

    func send(_ command: ControllerCommand) async throws {
        log.write { $0.append("controller.send \(command)") }
        sent.write { $0.append(command) }
        if case .dispense = command, let failure = dispenseFailure.get { throw failure }
    }

    var commands: [ControllerCommand] { sent.get }
    var dispenseCount: Int { commands.filter { if case .dispense = $0 { return true } else { return false } }.count }
}

final class FakeScreen: ScreenPort, @unchecked Sendable {
    let shown = Locked<[ScreenIntent]>([])
    let notices = Locked<[String?]>([])
    func show(_ intent: ScreenIntent) async { shown.write { $0.append(intent) } }
    func showNotice(_ notice: String?) async { notices.write { $0.append(notice) } }
}

/// A coordinator wired to fakes and a manual clock, with `run()` running.
struct Harness {
    let clock: ManualClock
    let log: CallLog
    let invoices: FakeInvoices
    let store: FakeStore
    let controller: FakeController
    let screen: FakeScreen
    let coordinator: VendCoordinator
    let outcomes: Locked<[SessionOutcome]>
    let runTask: Task<Void, Never>
    let collector: Task<Void, Never>

    /// Seconds added to the wall clock the coordinator reads (a stepped system clock: NTP, no RTC).
    let wallStep: Locked<TimeInterval>
    /// Every journal health change the coordinator reported.
    let health: Locked<[JournalHealth]>

    init(store kind: StoreKind = .fake, records: [SessionRecord] = [], sessionPolicy: SessionPolicy = policy) {
        let health = Locked<[JournalHealth]>([])
        self.health = health
        let clock = ManualClock(epoch: t0)
        let wallStep = Locked<TimeInterval>(0)
        let log = CallLog([])
        let invoices = FakeInvoices(log: log)
        let store = FakeStore(log: log, records: records, kind: kind)
        let controller = FakeController(log: log)
        let screen = FakeScreen()
        let coordinator = VendCoordinator(
            invoices: invoices, store: store, controller: controller, screen: screen,
            renderQR: { info, _ in "pay:\(info.reference)" },
            planogram: { $0.rawValue == "5" ? "Soda" : nil }, policy: sessionPolicy, clock: clock,
            now: { clock.wallNow().addingTimeInterval(wallStep.get) },
            onJournalHealth: { change in health.write { $0.append(change) } })
        let outcomes = Locked<[SessionOutcome]>([])
        self.clock = clock
        self.wallStep = wallStep
        self.log = log
        self.invoices = invoices
        self.store = store
        self.controller = controller
        self.screen = screen
        self.coordinator = coordinator
        self.outcomes = outcomes
        runTask = Task { try? await coordinator.run() }
        collector = Task {
            for await outcome in coordinator.outcomes { outcomes.write { $0.append(outcome) } }
        }
    }

    func stop() {
        runTask.cancel()
        collector.cancel()
    }

    /// Stops the coordinator and waits (bounded) until `run()` and the outcome collector have
    /// returned, then removes the journal file. Records an issue when they do not return in time
    /// (waited on a pulse: a race in a task group would wait for a run() that ignores cancellation).
    func finish() async {
        stop()
        let runTask = runTask
        let collector = collector
        let ended = Pulse()
        let done = Locked(false)
        Task {
            await runTask.value
            await collector.value
            done.write { $0 = true }
            ended.signal()
        }
        guard await ended.wait(until: { done.get }, timeout: .seconds(10)) else {
            Issue.record("the coordinator's run() did not return within 10 s of its cancellation")
            return
        }
        store.removeFiles()
    }

    /// Advances the manual clock in `step`s, letting the coordinator's tasks run between steps,
    /// until `condition` holds (or `maxSteps`). Returns whether it held.
    func drive(step: Duration, maxSteps: Int = 2000, until condition: () async -> Bool) async -> Bool {
        for _ in 0..<maxSteps {
            if await condition() { return true }
            clock.advance(by: step)
            try? await Task.sleep(for: .milliseconds(1))
        }
        return await condition()
    }

    /// Advances the manual clock `steps` times by `step`, letting tasks run in between.
    func idle(steps: Int, step: Duration) async {
        for _ in 0..<steps {
            clock.advance(by: step)
            try? await Task.sleep(for: .microseconds(200))
        }
    }
}

/// A controller write that failed with `someBytesLeft` bytes of the line out or not.
struct PartWrite: ControllerWriteFailure, Hashable {
    let someBytesLeft: Bool
}

/// A coordinator wired to fakes and `store` (the fake store or the real journal) for the length of
/// `body`; its teardown (`Harness.finish`) is awaited after the body, also when the body throws.
func withHarness<T>(
    store: StoreKind, records: [SessionRecord] = [], sessionPolicy: SessionPolicy = policy,
    _ body: (Harness) async throws -> T
) async rethrows -> T {
    let h = Harness(store: store, records: records, sessionPolicy: sessionPolicy)
    do {
        let result = try await body(h)
        await h.finish()
        return result
    } catch {
        await h.finish()
        throw error
    }
}
