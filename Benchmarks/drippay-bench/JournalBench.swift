import Foundation
import KioskCore
@_spi(Benchmarks) import KioskJournal

/// `drippay-bench journal`: commits per vend, time per durable update, file size with and without pruning.
/// Runs in `$DRIPPAY_BENCH_DIR` (default: the temporary directory); put it on the disk you want measured.
/// `drippay-bench journal vends` runs only the per-vend part, e.g. to count real fsyncs with
/// `strace -f -c -e trace=fsync,fdatasync drippay-bench journal vends`.
func runJournalBenchmarks() async throws {
    let onlyVends = CommandLine.arguments.dropFirst(2).first == "vends"
    let base = ProcessInfo.processInfo.environment["DRIPPAY_BENCH_DIR"] ?? NSTemporaryDirectory()
    let dir = URL(fileURLWithPath: base).appendingPathComponent("drippay-bench-journal-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    print("journal benchmark in \(dir.path) (SQLite WAL, synchronous=FULL unless noted)")

    let usd = Currency(code: "USD", minorDigits: 2)
    let start = Date(timeIntervalSince1970: 1_795_000_000)

    /// One vend as the daemon journals it, four durable commits: trade number with the insert;
    /// invoiced; paid with dispensing; a `dispense_sent` note without fsync; dispensed.
    func vend(_ journal: Journal, _ index: Int, at now: Date, ending: SessionState = .dispensed) throws {
        var record = try journal.insertNew(now: now, event: "requested", detail: "VEND V\(index) 5 1.50") { tradeNo in
            SessionRecord(
                tradeNo: tradeNo, vendID: VendID("V\(index)")!, product: ProductCode("5")!, itemDescription: "Soda",
                price: Money(minorUnits: 150, currency: usd), state: .requested, createdAt: now, updatedAt: now)
        }
        record.state = .invoiced
        record.reference = InvoiceReference(UUID().uuidString.lowercased())
        record.providerInvoiceID = "inv_\(index)"
        record.qrPayload = "https://pay.example.com/i/\(record.reference!.rawValue)"
        record.paymentDeadline = now.addingTimeInterval(90)
        try journal.update(record, event: "invoice_created", detail: "QR shown")
        record.state = .paid
        record.paidAt = now.addingTimeInterval(20)
        record.updatedAt = now.addingTimeInterval(20)
        let paid = record
        record.state = .dispensing
        try journal.update(steps: [
            JournalStep(paid, event: "paid", detail: "status paid"),
            JournalStep(record, event: "dispensing", detail: "dispense decided"),
        ])
        try journal.appendEvent(
            tradeNo: record.tradeNo, kind: "dispense_sent", detail: "DISPENSE written", at: record.updatedAt,
            durable: false)
        record.state = ending
        record.updatedAt = now.addingTimeInterval(25)
        if ending == .refundDue { record.note = "controller reported FAILED: jam" }
        try journal.update(record, event: ending.rawValue, detail: "")
    }

    // 1. Commits per vend (durable journal).
    do {
        let journal = try Journal.open(path: dir.appendingPathComponent("vends.sqlite").path, machineID: "VVM-005")
        defer { journal.close() }
        let vends = 100
        let before = journal.statistics
        let clock = ContinuousClock()
        let begun = clock.now
        for index in 0..<vends { try vend(journal, index, at: start.addingTimeInterval(Double(index) * 60)) }
        let elapsed = clock.now - begun
        let after = journal.statistics
        let perVend = { (a: Int, b: Int) in String(format: "%.2f", Double(a - b) / Double(vends)) }
        print("per simulated vend (trade number with insert, 3 updates, 1 note without fsync), over \(vends) vends:")
        print("  write transactions: \(perVend(after.writeTransactions, before.writeTransactions))")
        print("  fsync-requiring commits: \(perVend(after.durableCommits, before.durableCommits))")
        print(
            "  commits without fsync (synchronous=NORMAL): \(perVend(after.nonDurableCommits, before.nonDurableCommits))"
        )
        print("  wall time per vend: \(format(elapsed / vends))")
    }

    if onlyVends { return }

    // 2. Latency of one durable update.
    do {
        let journal = try Journal.open(path: dir.appendingPathComponent("updates.sqlite").path, machineID: "VVM-005")
        defer { journal.close() }
        let tradeNo = try journal.nextTradeNo(now: start)
        var record = SessionRecord(
            tradeNo: tradeNo, vendID: VendID("V1")!, product: ProductCode("5")!, itemDescription: "Soda",
            price: Money(minorUnits: 150, currency: usd), state: .invoiced, createdAt: start, updatedAt: start)
        try journal.insert(record, event: "invoice_created", detail: "")
        let clock = ContinuousClock()
        var samples: [Duration] = []
        for index in 0..<500 {
            record.updatedAt = start.addingTimeInterval(Double(index))
            record.note = "update \(index)"
            let begun = clock.now
            try journal.update(record, event: "note", detail: "")
            samples.append(clock.now - begun)
        }
        samples.sort()
        let median = samples[samples.count / 2]
        let p99 = samples[Int(Double(samples.count) * 0.99) - 1]
        print(
            "durable update (row + event, one transaction), 500 samples: median \(format(median)), "
                + "p99 \(format(p99)), max \(format(samples.last!))")
    }

    // 3. File size: 10,000 vends over 100 days (1% refund due), then pruning to the last 30 days.
    do {
        let path = dir.appendingPathComponent("size.sqlite").path
        // NORMAL only to fill quickly: the size does not depend on fsyncs.
        let journal = try Journal.open(path: path, machineID: "VVM-005", durability: .normal)
        defer { journal.close() }
        let sessions = 10_000
        let span = 100.0 * 86_400
        for index in 0..<sessions {
            let now = start.addingTimeInterval(span * Double(index) / Double(sessions))
            try vend(journal, index, at: now, ending: index % 100 == 0 ? .refundDue : .dispensed)
        }
        try journal.prune(finishedBefore: .distantPast)  // checkpoints, deletes nothing
        let full = journal.fileSizeBytes()
        print(
            "file size after \(sessions) sessions (5 events each): \(full / 1024) KiB "
                + "(\(full / Int64(sessions)) bytes per session)")
        let cutoff = start.addingTimeInterval(span - 30 * 86_400)
        let deleted = try journal.prune(finishedBefore: cutoff)
        let remaining = try journal.counts().values.reduce(0, +)
        let pruned = journal.fileSizeBytes()
        print(
            "after prune(finishedBefore: last 30 days): deleted \(deleted), kept \(remaining) "
                + "(refund_due kept: \(try journal.counts()[.refundDue] ?? 0)), file size \(pruned / 1024) KiB")
    }
}

private func format(_ duration: Duration) -> String {
    let microseconds = duration.inSeconds * 1e6
    return microseconds >= 1000
        ? String(format: "%.2f ms", microseconds / 1000) : String(format: "%.0f µs", microseconds)
}
