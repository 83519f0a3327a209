import Foundation
import KioskCore
import Testing

@testable import KioskJournal

/// Issue 16: the merged commits of a vend (trade_no with the session; paid with dispensing) and
/// the notes written without an fsync of their own.
@Suite("Merged commits")
struct JournalMergedCommitTests {
    let dir: TemporaryDirectory
    let journal: Journal

    init() throws {
        dir = try TemporaryDirectory()
        journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
    }

    func newSession() throws -> SessionRecord {
        try journal.insertNew(now: t0, event: "requested", detail: "VEND v1") { tradeNo in
            SessionRecord(
                tradeNo: tradeNo, vendID: VendID("v1")!, product: ProductCode("5")!, itemDescription: "Soda",
                price: Money(minorUnits: 150, currency: usd), state: .requested, createdAt: t0, updatedAt: t0)
        }
    }

    @Test("insertNew takes the next trade number and writes the session and its event in one durable commit")
    func insertNewIsOneCommit() throws {
        let before = journal.statistics
        let record = try newSession()
        let after = journal.statistics
        #expect(record.tradeNo == TradeNo("VVM-005-20261125T101530Z-000001"))
        #expect(after.durableCommits - before.durableCommits == 1)
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
        #expect(try journal.events(tradeNo: record.tradeNo).map(\.kind) == ["requested"])
        #expect(try journal.nextTradeNo(now: t0) == TradeNo("VVM-005-20261125T101530Z-000002"))
    }

    @Test("paid then dispensing in one commit; a step the rules refuse writes none of the steps")
    func stepsAreAllOrNothing() throws {
        var record = try newSession()
        record.state = .invoiced
        record.reference = InvoiceReference("ref-1")
        try journal.update(record, event: "invoice_created", detail: "")
        var paid = record
        paid.state = .paid
        paid.paidAt = at(5)
        paid.updatedAt = at(5)
        var dispensing = paid
        dispensing.state = .dispensing

        // dispensed straight from paid breaks rule 1: neither step is written.
        var dispensed = paid
        dispensed.state = .dispensed
        #expect(throws: JournalError.self) {
            try journal.update(steps: [
                JournalStep(paid, event: "paid", detail: ""), JournalStep(dispensed, event: "dispensed", detail: ""),
            ])
        }
        #expect(try journal.session(tradeNo: record.tradeNo)?.state == .invoiced)
        #expect(try journal.events(tradeNo: record.tradeNo).map(\.kind) == ["requested", "invoice_created"])

        let before = journal.statistics
        try journal.update(steps: [
            JournalStep(paid, event: "paid", detail: "status paid"),
            JournalStep(dispensing, event: "dispensing", detail: "dispense decided"),
        ])
        #expect(journal.statistics.durableCommits - before.durableCommits == 1)
        #expect(try journal.session(tradeNo: record.tradeNo) == dispensing)
        let events = try journal.events(tradeNo: record.tradeNo)
        #expect(events.map(\.kind) == ["requested", "invoice_created", "paid", "dispensing"])
        #expect(events.map(\.state) == [.requested, .invoiced, .paid, .dispensing])
    }

    @Test("a note without fsync is counted apart, reads back, and the journal goes back to synchronous=FULL")
    func nonDurableNote() throws {
        let record = try newSession()
        let before = journal.statistics
        try journal.appendEvent(tradeNo: record.tradeNo, kind: "dispense_sent", detail: "x", at: at(1), durable: false)
        let after = journal.statistics
        #expect(after.nonDurableCommits - before.nonDurableCommits == 1)
        #expect(after.durableCommits == before.durableCommits)
        #expect(try journal.events(tradeNo: record.tradeNo).last?.kind == "dispense_sent")
        // The next commit is durable again: FULL is 2.
        let level = try journal.synchronousLevel()
        #expect(level == 2)
        // A reopened journal reads the note (a process crash loses nothing).
        journal.close()
        let reopened = try Journal.openReadOnly(path: dir.path("journal.sqlite"))
        defer { reopened.close() }
        #expect(try reopened.events(tradeNo: record.tradeNo).map(\.kind) == ["requested", "dispense_sent"])
    }
}
