import Foundation
import KioskCore
import Testing

@testable import KioskJournal

@Suite("Durability and concurrent readers")
struct JournalDurabilityTests {
    @Test func committedChangesSurviveAWriterThatNeverClosed() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let writer = try Journal.open(path: path, machineID: "VVM-005")
        var record = makeRecord("T1")
        try writer.insert(record, event: "vend_requested", detail: "")
        record.state = .invoiced
        record.reference = InvoiceReference("ref-1")
        try writer.update(record, event: "invoice_created", detail: "")

        // What is on disk now, with the writer still open (never checkpointed, never closed), is what a
        // power cut would leave: the database file and its WAL.
        let crashed = try TemporaryDirectory()
        let copy = crashed.path("journal.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        try FileManager.default.copyItem(atPath: path + "-wal", toPath: copy + "-wal")

        let recovered = try Journal.open(path: copy, machineID: "VVM-005")
        #expect(try recovered.session(tradeNo: record.tradeNo) == record)
        #expect(try recovered.events(tradeNo: record.tradeNo).map(\.kind) == ["vend_requested", "invoice_created"])
        #expect(try recovered.openSessions() == [record])
        // A second opener on the live file sees the same.
        let second = try Journal.open(path: path, machineID: "VVM-005")
        #expect(try second.session(tradeNo: record.tradeNo) == record)
        _ = writer
    }

    @Test func readOnlyReaderSeesEachCommitWhileTheWriterIsOpen() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let writer = try Journal.open(path: path, machineID: "VVM-005")
        defer { writer.close() }
        try writer.insert(makeRecord("T1"), event: "x", detail: "")
        let reader = try Journal.openReadOnly(path: path)
        defer { reader.close() }
        #expect(try reader.sessions(limit: 10).map(\.tradeNo.rawValue) == ["T1"])
        try writer.insert(makeRecord("T2", created: at(1)), event: "x", detail: "")
        #expect(try reader.sessions(limit: 10).map(\.tradeNo.rawValue) == ["T2", "T1"])
    }

    @Test func readOnlyOpenWorksAfterTheWriterClosed() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let writer = try Journal.open(path: path, machineID: "VVM-005")
        try writer.insert(makeRecord("T1"), event: "x", detail: "")
        writer.close()
        let reader = try Journal.openReadOnly(path: path)
        defer { reader.close() }
        #expect(try reader.session(tradeNo: TradeNo("T1")) != nil)
    }

    @Test func readerAndWriterRunConcurrently() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let writer = try Journal.open(path: path, machineID: "VVM-005")
        defer { writer.close() }
        try writer.insert(makeRecord("T-first"), event: "x", detail: "")
        let reader = try Journal.openReadOnly(path: path)
        defer { reader.close() }
        let total = 40
        let readCounts = try await withThrowingTaskGroup(of: [Int].self) { group in
            group.addTask {
                for index in 0..<total {
                    try writer.insert(
                        makeRecord("T\(index)", vendID: "V\(index)", created: at(Double(index))),
                        event: "x", detail: "")
                }
                return []
            }
            group.addTask {
                var seen: [Int] = []
                // Bounded: at most 2000 reads, stops as soon as every write is visible.
                for _ in 0..<2000 {
                    let count = try reader.sessions(limit: 1000).count
                    seen.append(count)
                    if count == total + 1 { break }
                    await Task.yield()
                }
                return seen
            }
            var all: [[Int]] = []
            for try await result in group { all.append(result) }
            return all.flatMap { $0 }
        }
        #expect(readCounts == readCounts.sorted())  // never goes back: each read sees a committed state
        #expect(try reader.sessions(limit: 1000).count == total + 1)
    }
}
