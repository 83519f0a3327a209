import Foundation
import KioskCore
import Testing

@testable import KioskJournal

@Suite("Resolutions")
struct JournalResolutionTests {
    let directory: TemporaryDirectory
    let journal: Journal

    init() throws {
        directory = try TemporaryDirectory()
        journal = try Journal.open(path: directory.path("journal.sqlite"), machineID: "VM-1")
    }

    @Test(arguments: SessionState.operatorSettleable)
    func anAuditSessionIsResolvedOnceWithWhoWhenAndNote(state: SessionState) throws {
        let record = makeRecord("T1", state: state)
        try journal.insert(record, event: "x", detail: "")
        let resolution = try journal.resolve(
            tradeNo: record.tradeNo, note: "refunded by phone", by: "alice", at: at(60))
        #expect(
            resolution
                == SessionResolution(
                    tradeNo: record.tradeNo, state: state, resolvedAt: at(60), resolvedBy: "alice",
                    note: "refunded by phone"))
        #expect(try journal.resolution(tradeNo: record.tradeNo) == resolution)
        #expect(
            try rawQuery(
                journal.path,
                "SELECT trade_no || '|' || state || '|' || resolved_at || '|' || resolved_by "
                    + "|| '|' || note FROM session_resolutions")
                == ["T1|\(state.rawValue)|\(t0Milliseconds + 60_000)|alice|refunded by phone"])
        // The session itself is untouched: same row, same history.
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
        #expect(try journal.events(tradeNo: record.tradeNo).map(\.kind) == ["x"])
    }

    @Test func aSecondResolutionIsRefusedAndTheFirstKept() throws {
        try journal.insert(makeRecord("T1", state: .refundDue), event: "x", detail: "")
        let first = try journal.resolve(tradeNo: TradeNo("T1"), note: "refunded", by: "alice", at: at(1))
        let error = try #require(throws: JournalError.self) {
            try journal.resolve(tradeNo: TradeNo("T1"), note: "again", by: "bob", at: at(2))
        }
        guard case .alreadyResolved(let earlier, _) = error else {
            Issue.record("expected alreadyResolved, got \(error)")
            return
        }
        #expect(earlier == first)
        #expect(error.description.contains("by alice"))
        #expect(try rawQuery(journal.path, "SELECT note FROM session_resolutions") == ["refunded"])
    }

    @Test(arguments: SessionState.allCases.filter { !$0.isOperatorSettleable })
    func aSessionNotInAnAuditStateIsNotResolved(state: SessionState) throws {
        try journal.insert(makeRecord("T1", state: state), event: "x", detail: "")
        let error = try #require(throws: JournalError.self) {
            try journal.resolve(tradeNo: TradeNo("T1"), note: "n", by: "alice", at: at(1))
        }
        guard case .notOperatorSettleable(_, let refused, _) = error else {
            Issue.record("expected notOperatorSettleable, got \(error)")
            return
        }
        #expect(refused == state)
        #expect(try rawQuery(journal.path, "SELECT count(*) FROM session_resolutions") == ["0"])
    }

    @Test func anUnknownSessionIsNotResolved() throws {
        let error = try #require(throws: JournalError.self) {
            try journal.resolve(tradeNo: TradeNo("nope"), note: "n", by: "alice", at: at(1))
        }
        guard case .unknownSession = error else {
            Issue.record("expected unknownSession, got \(error)")
            return
        }
    }

    @Test func openAuditSessionsLeaveTheListsAndCountsWhenResolved() throws {
        try journal.insert(makeRecord("R1", state: .refundDue, created: at(1)), event: "x", detail: "")
        try journal.insert(makeRecord("R2", state: .refundDue, created: at(2)), event: "x", detail: "")
        try journal.insert(makeRecord("U1", state: .dispenseUnknown, created: at(3)), event: "x", detail: "")
        try journal.insert(makeRecord("D1", state: .dispensed, created: at(4)), event: "x", detail: "")
        #expect(try journal.openAuditCounts() == [.refundDue: 2, .dispenseUnknown: 1, .unresolved: 0])
        try journal.resolve(tradeNo: TradeNo("R1"), note: "refunded", by: "alice", at: at(10))
        try journal.resolve(tradeNo: TradeNo("U1"), note: "product came out (camera)", by: "bob", at: at(11))
        #expect(try journal.openAuditCounts() == [.refundDue: 1, .dispenseUnknown: 0, .unresolved: 0])
        #expect(try journal.auditSessions().map(\.tradeNo.rawValue) == ["R2"])
        #expect(try journal.auditSessions(includingResolved: true).map(\.tradeNo.rawValue) == ["R1", "R2", "U1"])
        let resolutions = try journal.resolutions(of: try journal.auditSessions(includingResolved: true))
        #expect(resolutions.keys.map(\.rawValue).sorted() == ["R1", "U1"])
    }

    @Test func theExportCarriesTheResolution() throws {
        try journal.insert(makeRecord("R1", state: .refundDue, created: at(1)), event: "x", detail: "")
        try journal.insert(makeRecord("R2", state: .refundDue, created: at(2)), event: "x", detail: "")
        try journal.resolve(tradeNo: TradeNo("R1"), note: "refunded, by phone", by: "alice", at: at(10))
        let sessions = try journal.sessions(limit: 10).reversed().map { $0 }
        let lines = try journal.exportCSV(sessions: sessions).split(separator: "\r\n").map(String.init)
        #expect(lines[0].hasSuffix(",codes_shown,resolved_at,resolved_by,resolution_note"))
        #expect(
            lines[1].hasPrefix("R1,") && lines[1].hasSuffix(",2026-11-25T10:15:40.123Z,alice,\"refunded, by phone\""))
        #expect(lines[2].hasPrefix("R2,") && lines[2].hasSuffix(",,,"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: journal.exportJSON(sessions: sessions)) as? [[String: Any]])
        #expect(json[0]["resolved_by"] as? String == "alice")
        #expect(json[0]["resolution_note"] as? String == "refunded, by phone")
        #expect(json[1]["resolved_at"] is NSNull)
    }

    @Test func theLastSaleIsTheNewestDispensedSession() throws {
        #expect(try journal.lastEnded(state: .dispensed) == nil)
        var first = makeRecord("D1", state: .dispensed, created: at(1))
        first.updatedAt = at(5)
        var second = makeRecord("D2", state: .dispensed, created: at(2))
        second.updatedAt = at(9)
        try journal.insert(first, event: "x", detail: "")
        try journal.insert(second, event: "x", detail: "")
        try journal.insert(makeRecord("C1", state: .cancelled, created: at(20)), event: "x", detail: "")
        #expect(try journal.lastEnded(state: .dispensed) == at(9))
    }

    // MARK: The database refuses, also against the daemon and hand edits

    @Test func aResolvedSessionNeverChangesEvenIfItsStateWereNotFinal() throws {
        // An audit state need not be final (one added later may not be): drop the final-state
        // trigger to show that the resolution's own trigger holds on its own.
        try journal.insert(makeRecord("T1", state: .refundDue), event: "x", detail: "")
        try journal.resolve(tradeNo: TradeNo("T1"), note: "refunded", by: "alice", at: at(1))
        let raw = try SQLiteConnection(path: journal.path, mode: .readWriteCreate)
        defer { raw.close() }
        try raw.execute("DROP TRIGGER sessions_final_is_immutable")
        #expect(throws: SQLiteError.self) {
            try raw.execute("UPDATE sessions SET note = 'edited' WHERE trade_no = 'T1'")
        }
        #expect(throws: SQLiteError.self) { try raw.execute("UPDATE sessions SET state = 'dispensed'") }
        #expect(throws: SQLiteError.self) { try raw.execute("DELETE FROM sessions WHERE trade_no = 'T1'") }
        #expect(try rawQuery(journal.path, "SELECT state || '|' || ifnull(note, '') FROM sessions") == ["refund_due|"])
        // An unresolved one still may be (the trigger is gone): the refusal above is the resolution's.
        try journal.insert(makeRecord("T2", state: .refundDue), event: "x", detail: "")
        try raw.execute("UPDATE sessions SET note = 'edited' WHERE trade_no = 'T2'")
    }

    @Test func theJournalRefusesToChangeAResolvedSession() throws {
        let record = makeRecord("T1", state: .dispenseUnknown)
        try journal.insert(record, event: "x", detail: "")
        try journal.resolve(tradeNo: record.tradeNo, note: "checked", by: "alice", at: at(1))
        var changed = record
        changed.note = "daemon"
        #expect(throws: JournalError.self) { try journal.update(changed, event: "y", detail: "") }
        #expect(try journal.session(tradeNo: record.tradeNo) == record)
    }

    @Test func resolutionsAreAppendOnly() throws {
        try journal.insert(makeRecord("T1", state: .refundDue), event: "x", detail: "")
        try journal.resolve(tradeNo: TradeNo("T1"), note: "refunded", by: "alice", at: at(1))
        let raw = try SQLiteConnection(path: journal.path, mode: .readWriteCreate)
        defer { raw.close() }
        #expect(throws: SQLiteError.self) { try raw.execute("UPDATE session_resolutions SET note = 'edited'") }
        #expect(throws: SQLiteError.self) { try raw.execute("DELETE FROM session_resolutions") }
        #expect(try rawQuery(journal.path, "SELECT note FROM session_resolutions") == ["refunded"])
    }

    @Test(arguments: [
        ("dispensed", "dispensed"), ("refund_due", "dispense_unknown"), ("refund_due", "refund_due"),
    ])
    func theDatabaseRefusesAResolutionOfAnotherStateOrAnEmptyNote(stored: String, claimed: String) throws {
        try journal.insert(
            makeRecord("T1", state: SessionState(rawValue: stored)!), event: "x", detail: "")
        let raw = try SQLiteConnection(path: journal.path, mode: .readWriteCreate)
        defer { raw.close() }
        // A matching audit state is refused only for its empty note; the others for their state.
        let note = stored == claimed ? " " : "n"
        #expect(throws: SQLiteError.self) {
            try raw.execute(
                "INSERT INTO session_resolutions (trade_no, state, resolved_at, resolved_by, note) "
                    + "VALUES ('T1', '\(claimed)', 0, 'alice', '\(note)')")
        }
        #expect(try rawQuery(journal.path, "SELECT count(*) FROM session_resolutions") == ["0"])
    }
}
