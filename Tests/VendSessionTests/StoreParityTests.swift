import Foundation
import KioskCore
import Testing
import VendSession

/// The fake store refuses what the real journal refuses, so a coordinator test that passes against
/// the fake cannot rest on a transition the journal would not take.
@Suite("Coordinator test stores: the fake refuses what the journal refuses")
struct StoreParityTests {
    func newSession(_ store: FakeStore) throws -> SessionRecord {
        try store.insertNew(now: t0, event: .requested, detail: "") { newRecord(tradeNo: $0.rawValue) }
    }

    func moved(_ record: SessionRecord, to state: SessionState) -> SessionRecord {
        var record = record
        record.state = state
        record.updatedAt = record.updatedAt.addingTimeInterval(1)
        return record
    }

    @Test(arguments: StoreKind.allCases)
    func dispensingWithoutAPaymentIsRefusedAndNothingIsWritten(kind: StoreKind) throws {
        let store = FakeStore(log: CallLog([]), kind: kind)
        defer { store.removeFiles() }
        let record = try newSession(store)
        #expect(throws: (any Error).self) {
            try store.update(steps: [(moved(record, to: .dispensing), .dispensing, "")])
        }
        #expect(store.record("T-1")?.state == .requested)
        #expect(store.state.read(\.commits) == 1, "only the insert was committed")
    }

    @Test(arguments: StoreKind.allCases)
    func aFinalSessionNeverChanges(kind: StoreKind) throws {
        let store = FakeStore(log: CallLog([]), kind: kind)
        defer { store.removeFiles() }
        let record = try newSession(store)
        let cancelled = moved(record, to: .cancelled)
        try store.update(steps: [(cancelled, .cancelled, "")])
        #expect(throws: (any Error).self) {
            try store.update(steps: [(moved(cancelled, to: .invoiced), .invoiceCreated, "")])
        }
        #expect(store.record("T-1")?.state == .cancelled)
    }

    @Test(arguments: StoreKind.allCases)
    func aJoinedCommitWithARefusedStepWritesNoStep(kind: StoreKind) throws {
        let store = FakeStore(log: CallLog([]), kind: kind)
        defer { store.removeFiles() }
        let record = try newSession(store)
        let invoiced = moved(record, to: .invoiced)
        // invoiced is legal, then dispensed without dispensing is not: neither may be written.
        #expect(throws: (any Error).self) {
            try store.update(steps: [
                (invoiced, .invoiceCreated, ""), (moved(invoiced, to: .dispensed), .dispensed, ""),
            ])
        }
        #expect(store.record("T-1")?.state == .requested)
    }
}
