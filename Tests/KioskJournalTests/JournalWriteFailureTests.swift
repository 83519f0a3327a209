import Foundation
import KioskCore
import Testing

@testable import KioskJournal

/// A real write failure from the kernel: `RLIMIT_FSIZE` at the journal's current size makes every
/// write that extends a file fail with EFBIG, as a full card fails with ENOSPC (no loop device,
/// no root). SIGXFSZ is ignored so the write fails instead of killing the process.
func withFileSizeLimit<T>(_ bytes: UInt64, _ body: () throws -> T) rethrows -> T {
    var old = rlimit()
    getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old)
    let previousHandler = signal(SIGXFSZ, SIG_IGN)
    var limited = old
    limited.rlim_cur = rlim_t(bytes)
    setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limited)
    defer {
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &old)
        signal(SIGXFSZ, previousHandler)
    }
    return try body()
}

func fileSize(_ path: String) -> UInt64 {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.uint64Value ?? 0
}

@Suite("Journal: writes on storage that refuses them", .serialized)
struct JournalWriteFailureTests {
    @Test func aFullFileFailsTheProbeAndTheSessionWriteWithTheOSErrorAndBothWorkAgainAfterwards() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let journal = try Journal.open(path: path, machineID: "m1")
        defer { journal.close() }
        try journal.insert(makeRecord("T-1"), event: "requested", detail: "VEND")
        try journal.probeWrite()
        let wal = fileSize(path + "-wal")
        try #require(wal >= fileSize(path), "the WAL is the file that grows next")
        var updated = makeRecord("T-1", state: .failed)
        updated.updatedAt = at(1)
        let (probeError, updateError) = withFileSizeLimit(wal) { () -> ((any Error)?, (any Error)?) in
            var probe: (any Error)?
            var update: (any Error)?
            do { try journal.probeWrite() } catch { probe = error }
            do { try journal.update(updated, event: "failed", detail: "x") } catch { update = error }
            return (probe, update)
        }
        let probeText = probeError.map { String(describing: $0) } ?? "the probe did not fail"
        #expect(probeError != nil)
        #expect(probeText.contains(path), "names the file: \(probeText)")
        #expect(probeText.contains("OS error 27"), "names the OS error (EFBIG): \(probeText)")
        #expect(updateError != nil, "a session write fails the same way")
        #expect(try journal.session(tradeNo: TradeNo("T-1"))?.state == .requested)
        try journal.probeWrite()
        try journal.update(updated, event: "failed", detail: "x")
        #expect(try journal.session(tradeNo: TradeNo("T-1"))?.state == .failed)
        #expect(try rawQuery(path, "SELECT count FROM write_probe") == ["2"])
    }
}
