import Foundation
import KioskCore
import Testing

@_spi(Benchmarks) @testable import KioskJournal

@Suite("Trade numbers")
struct TradeNumberTests {
    @Test func tradeNumberHasMachineTimeAndCounter() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
        let now = Date(timeIntervalSince1970: 1_795_601_730)  // 2026-11-25T10:15:30Z
        #expect(try journal.nextTradeNo(now: now) == TradeNo("VVM-005-20261125T101530Z-000001"))
        #expect(try journal.nextTradeNo(now: now) == TradeNo("VVM-005-20261125T101530Z-000002"))
    }

    @Test func tradeNumbersAreUniqueAcrossReopenings() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        var seen: Set<TradeNo> = []
        for _ in 0..<3 {
            let journal = try Journal.open(path: path, machineID: "VVM-005")
            for _ in 0..<5 { seen.insert(try journal.nextTradeNo(now: t0)) }
            journal.close()
        }
        #expect(seen.count == 15)
    }

    @Test func tradeNumbersStayUniqueWhenTheClockGoesBack() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        var journal = try Journal.open(path: path, machineID: "VVM-005")
        let late = try journal.nextTradeNo(now: at(3600))
        journal.close()
        journal = try Journal.open(path: path, machineID: "VVM-005")
        let early = try journal.nextTradeNo(now: t0)
        let again = try journal.nextTradeNo(now: at(3600))
        #expect(Set([late, early, again]).count == 3)
        #expect(again.rawValue.hasSuffix("-000003"))
    }

    @Test func tradeNumberIsShortAndSafeForAnyMachineID() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(
            path: dir.path("journal.sqlite"), machineID: "Vending machine #5 (lobby) – north wing, floor 2")
        let tradeNo = try journal.nextTradeNo(now: t0).rawValue
        #expect(tradeNo.utf8.count <= 64)
        #expect(
            tradeNo.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_")
            })
        #expect(tradeNo.hasPrefix("Vending-machine--5--lobb-"))
    }
}

@Suite("Queries")
struct JournalQueryTests {
    let dir: TemporaryDirectory
    let journal: Journal

    init() throws {
        dir = try TemporaryDirectory()
        journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
    }

    /// Sessions created one second apart, in the given states.
    func seed(_ states: [SessionState]) throws {
        for (index, state) in states.enumerated() {
            try journal.insert(
                makeRecord("T\(index)", vendID: "V\(index)", state: state, created: at(Double(index))),
                event: state.rawValue, detail: "")
        }
    }

    @Test func openSessionsAreTheNonFinalOnesOldestFirst() throws {
        try seed([.dispensed, .invoiced, .refundDue, .requested, .paid, .cancelled, .dispensing])
        #expect(try journal.openSessions().map(\.tradeNo.rawValue) == ["T1", "T3", "T4", "T6"])
    }

    @Test func refundsDueListsOnlyRefundDueSessions() throws {
        try seed([.refundDue, .dispensed, .dispenseUnknown, .refundDue, .paid])
        #expect(try journal.refundsDue().map(\.tradeNo.rawValue) == ["T0", "T3"])
    }

    @Test func sessionsAreNewestFirstFilteredAndPaged() throws {
        try seed([.dispensed, .cancelled, .dispensed, .invoiced, .dispensed])
        #expect(try journal.sessions(limit: 10).map(\.tradeNo.rawValue) == ["T4", "T3", "T2", "T1", "T0"])
        #expect(try journal.sessions(limit: 2, offset: 1).map(\.tradeNo.rawValue) == ["T3", "T2"])
        #expect(
            try journal.sessions(limit: 10, states: [.dispensed, .cancelled]).map(\.tradeNo.rawValue)
                == ["T4", "T2", "T1", "T0"])
    }

    @Test func latestSessionForAVendIDIsTheNewest() throws {
        try journal.insert(makeRecord("A", vendID: "V7", state: .cancelled, created: t0), event: "x", detail: "")
        try journal.insert(makeRecord("B", vendID: "V7", state: .invoiced, created: at(10)), event: "x", detail: "")
        try journal.insert(makeRecord("C", vendID: "V8", state: .invoiced, created: at(20)), event: "x", detail: "")
        #expect(try journal.latestSession(vendID: VendID("V7")!)?.tradeNo == TradeNo("B"))
        #expect(try journal.latestSession(vendID: VendID("V9")!) == nil)
    }

    @Test func countsCoverEveryState() throws {
        try seed([.dispensed, .dispensed, .refundDue, .invoiced])
        let counts = try journal.counts()
        #expect(counts.count == SessionState.allCases.count)
        #expect(counts[.dispensed] == 2 && counts[.refundDue] == 1 && counts[.invoiced] == 1 && counts[.paid] == 0)
    }

    @Test func countOfOneStateMatchesTheFullCounts() throws {
        try seed([.dispensed, .dispensed, .refundDue, .invoiced])
        let counts = try journal.counts()
        for state in SessionState.allCases {
            #expect(try journal.count(state: state) == counts[state], "\(state)")
        }
        #expect(try journal.count(state: .dispensed) == 2)
    }

    @Test func statisticsCountOneDurableCommitPerWrite() throws {
        let before = journal.statistics
        try journal.insert(makeRecord("T1"), event: "x", detail: "")
        try journal.appendEvent(tradeNo: TradeNo("T1"), kind: "poll_failed", detail: "", at: t0)
        _ = try journal.session(tradeNo: TradeNo("T1"))
        let after = journal.statistics
        #expect(after.writeTransactions - before.writeTransactions == 2)
        #expect(after.durableCommits - before.durableCommits == 2)
    }
}

@Suite("Pruning")
struct JournalPruneTests {
    @Test func pruneRemovesOldFinishedSessionsAndKeepsRefundsAndUnknownDispenses() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
        let old: [SessionState] = [.dispensed, .cancelled, .failed, .refundDue, .dispenseUnknown, .invoiced]
        for (index, state) in old.enumerated() {
            try journal.insert(makeRecord("old\(index)", state: state, created: t0), event: "x", detail: "")
        }
        try journal.insert(makeRecord("new", state: .dispensed, created: at(86_400 * 30)), event: "x", detail: "")
        let deleted = try journal.prune(finishedBefore: at(86_400))
        #expect(deleted == 3)
        let remaining = try journal.sessions(limit: 100).map(\.tradeNo.rawValue).sorted()
        #expect(remaining == ["new", "old3", "old4", "old5"])
        #expect(try journal.events(tradeNo: TradeNo("old0")).isEmpty)
        #expect(try rawQuery(journal.path, "SELECT count(*) FROM session_events") == ["4"])
    }

    @Test func pruneGivesTheSpaceBack() throws {
        let dir = try TemporaryDirectory()
        // NORMAL only to fill quickly; pruning itself does not depend on it.
        let journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005", durability: .normal)
        for index in 0..<400 {
            var record = makeRecord("T\(index)", vendID: "V\(index)", state: .dispensed)
            record.note = String(repeating: "x", count: 1000)
            try journal.insert(record, event: "dispensed", detail: String(repeating: "d", count: 500))
        }
        try journal.prune(finishedBefore: at(-1))  // nothing that old: keeps all, checkpoints
        let full = journal.fileSizeBytes()
        #expect(try journal.prune(finishedBefore: at(60)) == 400)
        let pruned = journal.fileSizeBytes()
        #expect(full > 500_000)
        #expect(pruned < full / 4)
    }
}
