import Foundation
import KioskCore
import Testing

@testable import KioskJournal

@Suite("MDB vend id counter")
struct MDBVendCounterTests {
    @Test func reservedBlocksNeverOverlapAcrossReopens() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        var seen: [ClosedRange<Int64>] = []
        for _ in 0..<3 {
            let journal = try Journal.open(path: path, machineID: "VVM-005")
            seen.append(try journal.reserveVendNumbers(64))
            seen.append(try journal.reserveVendNumbers(1))
            journal.close()
        }
        #expect(seen.first == 1...64)
        for (a, b) in zip(seen, seen.dropFirst()) {
            #expect(b.lowerBound == a.upperBound + 1, "\(a) then \(b)")
        }
        #expect(seen.last == 195...195)
    }

    @Test func theCounterIsNotTheTradeNumberCounter() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
        defer { journal.close() }
        _ = try journal.nextTradeNo(now: Date())
        #expect(try journal.reserveVendNumbers(1) == 1...1)
    }
}
