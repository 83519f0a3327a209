import Foundation
import KioskCore
import Testing

@testable import KioskJournal

/// Issue 22 item 4: a trade_no lookup's progress is kept beside its session (`trade_no_lookups`,
/// migration v6), so that a restart goes on where the last run stopped.
@Suite("Journal: trade_no lookup progress")
struct JournalLookupTests {
    @Test func progressIsKeptReplacedReadBackAfterAReopenAndCleared() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        var journal = try Journal.open(path: path, machineID: "VVM-005")
        try journal.insert(makeRecord("T-1"), event: "requested", detail: "")
        #expect(try journal.lookupProgress(tradeNo: TradeNo("T-1")) == nil)
        try journal.saveLookupProgress(tradeNo: TradeNo("T-1"), progress: #"{"nextPage":11}"#, at: at(1))
        try journal.saveLookupProgress(tradeNo: TradeNo("T-1"), progress: #"{"nextPage":21}"#, at: at(2))
        journal.close()
        journal = try Journal.open(path: path, machineID: "VVM-005")
        defer { journal.close() }
        #expect(try journal.lookupProgress(tradeNo: TradeNo("T-1")) == #"{"nextPage":21}"#)
        #expect(try rawQuery(path, "SELECT count(*) FROM trade_no_lookups") == ["1"])
        try journal.clearLookupProgress(tradeNo: TradeNo("T-1"))
        #expect(try journal.lookupProgress(tradeNo: TradeNo("T-1")) == nil)
    }

    @Test func progressOfNoSessionIsRefused() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
        defer { journal.close() }
        #expect(throws: JournalError.self) {
            try journal.saveLookupProgress(tradeNo: TradeNo("T-none"), progress: "{}", at: at(1))
        }
    }

    @Test func progressGoesWithItsPrunedSession() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
        defer { journal.close() }
        try journal.insert(makeRecord("T-old", state: .cancelled), event: "cancelled", detail: "")
        try journal.saveLookupProgress(tradeNo: TradeNo("T-old"), progress: "{}", at: at(1))
        #expect(try journal.prune(finishedBefore: at(86_400)) == 1)
        #expect(try rawQuery(journal.path, "SELECT count(*) FROM trade_no_lookups") == ["0"])
    }
}
