import Foundation
import KioskCore
import Testing

@testable import KioskJournal

@Suite("Sessions and events")
struct JournalSessionTests {
    let dir: TemporaryDirectory
    let journal: Journal

    init() throws {
        dir = try TemporaryDirectory()
        journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
    }

    func fullRecord() -> SessionRecord {
        SessionRecord(
            tradeNo: TradeNo("VVM-005-20261125T093530Z-000001"), vendID: VendID("vend_42-a")!,
            product: ProductCode("A7")!, itemDescription: "Café \"crème\", large\nhot",
            price: Money(minorUnits: 1234, currency: kwd), state: .invoiced,
            reference: InvoiceReference("0b7c7c6e-3f7b-4a3c-9d2c-5d6f4e1a2b3c"), providerInvoiceID: "inv_9f8e7d",
            qrPayload: "https://pay.example.com/i/0b7c7c6e", createdAt: t0, updatedAt: at(1.5),
            paymentDeadline: at(90.25), paidAt: at(30.001), note: "first, note")
    }

    @Test func insertRoundTripsEveryField() throws {
        let record = fullRecord()
        try journal.insert(record, event: "invoice_created", detail: "QR shown")
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
    }

    @Test func insertRoundTripsMissingOptionalFields() throws {
        let record = makeRecord("T-nil", price: Money(minorUnits: 300, currency: jpy))
        try journal.insert(record, event: "vend_requested", detail: "")
        let stored = try #require(try journal.session(tradeNo: record.tradeNo))
        #expect(stored == record)
        #expect(stored.reference == nil && stored.paidAt == nil && stored.note == nil)
    }

    @Test func insertWritesTheFirstEvent() throws {
        let record = fullRecord()
        try journal.insert(record, event: "invoice_created", detail: "QR shown")
        let events = try journal.events(tradeNo: record.tradeNo)
        #expect(events.count == 1)
        #expect(events.first?.kind == "invoice_created")
        #expect(events.first?.detail == "QR shown")
        #expect(events.first?.state == .invoiced)
        #expect(events.first?.at == record.updatedAt)
    }

    @Test func updateRoundTripsEveryFieldAndAppendsItsEvent() throws {
        var record = makeRecord("T1")
        try journal.insert(record, event: "vend_requested", detail: "")
        record.state = .invoiced
        record.reference = InvoiceReference("ref-1")
        record.providerInvoiceID = "prov-1"
        record.qrPayload = "https://pay.example.com/i/ref-1"
        record.paymentDeadline = at(90)
        record.updatedAt = at(0.75)
        record.itemDescription = "Soda (cold)"
        try journal.update(record, event: "invoice_created", detail: "ref-1")
        record.state = .paid
        record.paidAt = at(12.345)
        record.updatedAt = at(12.5)
        record.note = "paid by QR"
        try journal.update(record, event: "paid", detail: "status paid")
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
        let events = try journal.events(tradeNo: record.tradeNo)
        #expect(events.map(\.kind) == ["vend_requested", "invoice_created", "paid"])
        #expect(events.map(\.state) == [.requested, .invoiced, .paid])
        #expect(events.map(\.at) == [t0, at(0.75), at(12.5)])
    }

    @Test func duplicateTradeNoIsRefusedAndTheStoredSessionKept() throws {
        let record = makeRecord("T1")
        try journal.insert(record, event: "vend_requested", detail: "")
        var other = makeRecord("T1", vendID: "V2")
        other.note = "second"
        #expect(throws: JournalError.self) { try journal.insert(other, event: "vend_requested", detail: "") }
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
        #expect(try journal.events(tradeNo: record.tradeNo).count == 1)
    }

    @Test func updateOfUnknownSessionIsRefused() throws {
        let error = #expect(throws: JournalError.self) {
            try journal.update(makeRecord("nope"), event: "paid", detail: "")
        }
        guard case .unknownSession(let tradeNo, _) = error else {
            Issue.record("expected unknownSession, got \(String(describing: error))")
            return
        }
        #expect(tradeNo == TradeNo("nope"))
        #expect(try journal.events(tradeNo: TradeNo("nope")).isEmpty)
    }

    @Test(arguments: SessionState.allCases.filter(\.isFinal))
    func finalSessionNeverChanges(final: SessionState) throws {
        let record = makeRecord("T-final", state: final)
        try journal.insert(record, event: "ended", detail: "")
        for attempted in SessionState.allCases {
            var changed = record
            changed.state = attempted
            changed.updatedAt = at(60)
            changed.note = "changed"
            let error = #expect(throws: JournalError.self) { try journal.update(changed, event: "x", detail: "") }
            guard case .finalSessionImmutable(_, let state, let tried, _) = error else {
                Issue.record("expected finalSessionImmutable, got \(String(describing: error))")
                continue
            }
            #expect(state == final && tried == attempted)
        }
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
        #expect(try journal.events(tradeNo: record.tradeNo).count == 1)
    }

    @Test func dispensedSessionNeverGoesBackToPaid() throws {
        var record = makeRecord("T1")
        try journal.insert(record, event: "vend_requested", detail: "")
        for state in [SessionState.invoiced, .paid, .dispensing, .dispensed] {
            record.state = state
            try journal.update(record, event: state.rawValue, detail: "")
        }
        var back = record
        back.state = .paid
        #expect(throws: JournalError.self) { try journal.update(back, event: "paid", detail: "") }
        #expect(try journal.session(tradeNo: record.tradeNo)?.state == .dispensed)
    }

    @Test(arguments: [
        (SessionState.dispensing, SessionState.paid),  // going back
        (.paid, .invoiced),
        (.invoiced, .dispensing),  // dispense without payment
        (.requested, .dispensing),
        (.paid, .dispensed),  // dispense decision not journaled first
        (.paid, .dispenseUnknown),
        (.paid, .cancelled),  // a paid invoice forgotten
        (.dispensing, .failed),
    ])
    func moneyUnsafeTransitionIsRefused(from: SessionState, to: SessionState) throws {
        let record = makeRecord("T-move", state: from)
        try journal.insert(record, event: from.rawValue, detail: "")
        var moved = record
        moved.state = to
        let error = #expect(throws: JournalError.self) { try journal.update(moved, event: to.rawValue, detail: "") }
        guard case .transitionRefused(_, let reportedFrom, let reportedTo, _, _) = error else {
            Issue.record("expected transitionRefused, got \(String(describing: error))")
            return
        }
        #expect(reportedFrom == from && reportedTo == to)
        #expect(try journal.session(tradeNo: record.tradeNo)?.state == from)
    }

    @Test(arguments: [
        (SessionState.requested, SessionState.paid),  // recovery found the invoice paid
        (.invoiced, .cancelled),
        (.paid, .refundDue),
        (.dispensing, .refundDue),  // FAILED after DISPENSE
        (.dispensing, .dispenseUnknown),
        (.invoiced, .invoiced),
    ])
    func allowedTransitionIsWritten(from: SessionState, to: SessionState) throws {
        let record = makeRecord("T-move", state: from)
        try journal.insert(record, event: from.rawValue, detail: "")
        var moved = record
        moved.state = to
        try journal.update(moved, event: to.rawValue, detail: "")
        #expect(try journal.session(tradeNo: record.tradeNo)?.state == to)
    }

    @Test func priceNeverChangesAfterInsert() throws {
        var record = makeRecord("T1")
        try journal.insert(record, event: "vend_requested", detail: "")
        record.state = .invoiced
        let original = record
        record.price = Money(minorUnits: 1, currency: usd)
        let error = #expect(throws: JournalError.self) { try journal.update(record, event: "x", detail: "") }
        guard case .identityChanged(_, let field, _) = error else {
            Issue.record("expected identityChanged, got \(String(describing: error))")
            return
        }
        #expect(field == "price")
        #expect(try journal.session(tradeNo: original.tradeNo)?.price == Money(minorUnits: 150, currency: usd))
    }

    /// Rule 4 (no orphan invoices): a session's invoice, once journaled, is the one recovery
    /// cancels or settles; replacing or dropping it would forget an invoice that may be paid.
    @Test(arguments: [InvoiceReference("ref-other"), nil])
    func invoiceReferenceNeverChangesOnceJournaled(replacement: InvoiceReference?) throws {
        var record = makeRecord("T1")
        try journal.insert(record, event: "vend_requested", detail: "")
        record.state = .invoiced
        record.reference = InvoiceReference("ref-1")
        try journal.update(record, event: "invoice_created", detail: "")
        record.reference = replacement
        let error = #expect(throws: JournalError.self) { try journal.update(record, event: "x", detail: "") }
        guard case .identityChanged(_, let field, _) = error else {
            Issue.record("expected identityChanged, got \(String(describing: error))")
            return
        }
        #expect(field == "reference")
        #expect(try journal.session(tradeNo: record.tradeNo)?.reference == InvoiceReference("ref-1"))
    }

    @Test func appendEventRecordsWithoutChangingTheSession() throws {
        let record = makeRecord("T1", state: .invoiced)
        try journal.insert(record, event: "invoice_created", detail: "")
        try journal.appendEvent(tradeNo: record.tradeNo, kind: "poll_failed", detail: "HTTP 503", at: at(5))
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
        let last = try #require(try journal.events(tradeNo: record.tradeNo).last)
        #expect(last.kind == "poll_failed" && last.detail == "HTTP 503" && last.at == at(5) && last.state == .invoiced)
    }

    @Test func appendEventForUnknownSessionIsRefused() throws {
        #expect(throws: JournalError.self) {
            try journal.appendEvent(tradeNo: TradeNo("nope"), kind: "poll_failed", detail: "", at: t0)
        }
    }

    @Test(arguments: SessionState.allCases)
    func databaseTriggerGuardsFinalSessionsAgainstHandEdits(state: SessionState) throws {
        try journal.insert(makeRecord("T1", state: state), event: "x", detail: "")
        let raw = try SQLiteConnection(path: journal.path, mode: .readWriteCreate)
        defer { raw.close() }
        let edit = { () throws in try raw.execute("UPDATE sessions SET note = 'edited' WHERE trade_no = 'T1'") }
        if state.isFinal {
            #expect(throws: SQLiteError.self) { try edit() }
        } else {
            try edit()
        }
    }

    @Test func eventsCannotBeRewritten() throws {
        try journal.insert(makeRecord("T1"), event: "vend_requested", detail: "")
        let raw = try SQLiteConnection(path: journal.path, mode: .readWriteCreate)
        defer { raw.close() }
        #expect(throws: SQLiteError.self) { try raw.execute("UPDATE session_events SET detail = 'edited'") }
    }
}
