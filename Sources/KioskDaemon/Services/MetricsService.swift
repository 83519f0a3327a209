import KioskJournal
import Logging
import ServiceLifecycle

/// The metrics textfile (`[metrics] textfile`): the journal's gauges refreshed and the file
/// rewritten, by the metrics loop and after each vend and journal-health change.
struct MetricsFile: Sendable {
    let metrics: KioskMetrics
    let journal: Journal
    /// nil: no textfile configured; `write()` does nothing.
    let path: String?
    let logger: Logger
    /// The API client's count of malformed list invoices (nil in tests without a client).
    var malformedInvoices: (@Sendable () -> Int)? = nil

    /// Open audit sessions, the last sale and the journal's size, read from the journal.
    func refresh() {
        if let malformedInvoices { metrics.setMalformedInvoices(malformedInvoices()) }
        if let open = try? journal.openAuditCounts() { metrics.setOpenAuditSessions(open) }
        if let lastSale = try? journal.lastEnded(state: .dispensed) { metrics.setLastSale(lastSale) }
        metrics.setJournalBytes(journal.fileSizeBytes())
    }

    func write() {
        guard let path else { return }
        do {
            try metrics.writeTextfile(to: path)
        } catch {
            logger.warning("cannot write the metrics textfile \(path): \(error)")
        }
    }
}

/// After READY, the metrics textfile every `interval` (if one is configured).
struct MetricsService: Service, CustomStringConvertible {
    let file: MetricsFile
    let interval: Duration
    let ready: Latch

    var description: String { "metrics" }

    func run() async {
        guard file.path != nil else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            guard await ready.wait() else { return }
            while !Task.isCancelled {
                file.refresh()
                file.write()
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}
