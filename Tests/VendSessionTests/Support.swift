import Foundation
import KioskCore
import VendSession

let usd = Currency(iso: "USD")!
let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func cents(_ value: Int64) -> Money { Money(minorUnits: value, currency: usd) }
func vendID(_ text: String) -> VendID { VendID(text)! }
func product(_ text: String) -> ProductCode { ProductCode(text)! }

let policy = SessionPolicy(
    paymentTimeout: .seconds(90), resumeGrace: .seconds(15), pollFloor: .milliseconds(100),
    pollBackoffMax: .seconds(2), retryInitial: .seconds(1), retryMax: .seconds(8))

func request(_ id: String = "v1", product code: String = "5", price: Int64 = 150) -> VendRequest {
    VendRequest(id: vendID(id), product: product(code), price: cents(price))
}

func newRecord(
    tradeNo: String = "T-1", id: String = "v1", state: SessionState = .requested, at: Date = t0
) -> SessionRecord {
    SessionRecord(
        tradeNo: TradeNo(tradeNo), vendID: vendID(id), product: product("5"), itemDescription: "Soda",
        price: cents(150), state: state, createdAt: at, updatedAt: at)
}

/// A record as the journal would hold it for an invoiced session.
func invoicedRecord(
    tradeNo: String = "T-1", id: String = "v1", deadline: Date, reference: String = "ref-1"
)
    -> SessionRecord
{
    var record = newRecord(tradeNo: tradeNo, id: id, state: .invoiced)
    record.reference = InvoiceReference(reference)
    record.providerInvoiceID = "strike-1"
    record.qrPayload = "pay:\(reference)"
    record.paymentDeadline = deadline
    return record
}

func invoice(_ reference: String = "ref-1", total: Int64 = 150, status: InvoiceStatus = .pending) -> InvoiceInfo {
    InvoiceInfo(
        reference: InvoiceReference(reference), providerInvoiceID: "strike-1", total: cents(total),
        qrCodeImageURL: "https://img/\(reference)", status: status)
}

extension Array where Element == SessionEffect {
    var commands: [ControllerCommand] {
        compactMap { if case .send(let command) = $0 { return command } else { return nil } }
    }
    var persistedStates: [SessionState] {
        flatMap { if case .commit(let steps) = $0 { return steps.map(\.record.state) } else { return [] } }
    }
    var dispenseCount: Int {
        commands.filter { if case .dispense = $0 { return true } else { return false } }.count
    }
    var denies: [DenyReason] {
        commands.compactMap { if case .deny(_, let reason) = $0 { return reason } else { return nil } }
    }
    func firstIndex(persisting state: SessionState) -> Int? {
        firstIndex {
            if case .commit(let steps) = $0 { return steps.contains { $0.record.state == state } } else { return false }
        }
    }
    /// The commit effects, each as the states it writes (one transaction each).
    var commits: [[SessionState]] {
        compactMap { if case .commit(let steps) = $0 { return steps.map(\.record.state) } else { return nil } }
    }
    var dispenseIndex: Int? {
        firstIndex { if case .send(.dispense) = $0 { return true } else { return false } }
    }
    var finishedState: SessionState? {
        for effect in self { if case .finished(let state) = effect { return state } }
        return nil
    }
    var screens: [ScreenIntent] {
        compactMap { if case .show(let intent) = $0 { return intent } else { return nil } }
    }
    func contains(timer: SessionTimer) -> Bool {
        contains { if case .startTimer(timer, _) = $0 { return true } else { return false } }
    }
}

/// Drives a machine with a wall clock that only moves when told; collects every effect.
struct Driver {
    var machine: VendSessionMachine
    var now: Date
    var all: [SessionEffect] = []

    init(machine: VendSessionMachine, now: Date = t0) {
        self.machine = machine
        self.now = now
    }

    /// A fresh session that has been started and whose invoice was created.
    static func invoiced(at start: Date = t0) -> Driver {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(at: start), policy: policy), now: start)
        driver.send(.start)
        driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        return driver
    }

    @discardableResult
    mutating func send(_ event: SessionEvent) -> [SessionEffect] {
        let effects = machine.handle(event, now: now)
        all += effects
        return effects
    }

    mutating func advance(_ seconds: TimeInterval) { now = now.addingTimeInterval(seconds) }

    /// Moves the wall clock to a pending timer and fires it.
    @discardableResult
    mutating func fire(_ timer: SessionTimer) -> [SessionEffect] {
        if let due = machine.timers[timer], due > now { now = due }
        return send(.timerFired(timer))
    }

    var state: SessionState { machine.record.state }
}
