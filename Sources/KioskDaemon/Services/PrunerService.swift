import KioskJournal
import Logging
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Removes ended sessions older than `[journal] retention_days`.
struct JournalPruner: Sendable {
    let journal: Journal
    let retentionDays: Int
    let logger: Logger

    func prune() {
        let cutoff = Date().addingTimeInterval(-Double(retentionDays) * 86_400)
        do {
            let removed = try journal.prune(finishedBefore: cutoff)
            if removed > 0 { logger.info("pruned \(removed) ended session(s) older than \(retentionDays) days") }
        } catch {
            logger.warning("journal pruning failed: \(error)")
        }
    }
}

/// After READY, prunes the journal once a day (the daemon prunes once at start, before the display opens).
struct PrunerService: Service, CustomStringConvertible {
    let pruner: JournalPruner
    let ready: Latch

    var description: String { "journal pruner" }

    func run() async {
        await cancelWhenGracefulShutdown {
            guard await ready.wait() else { return }
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(86_400)) } catch { return }
                pruner.prune()
            }
        }
    }
}
