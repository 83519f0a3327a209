import KioskCore
import Logging
import ServiceLifecycle
import VendSession

/// The service gate: applies every in/out-of-service cause (API, serial link, display, journal,
/// adapter set-up, shutting down) and tells the coordinator, the controller and systemd's STATUS.
/// Also turns the coordinator's journal-health reports into gate causes and metrics.
struct ServiceGateService: Service, CustomStringConvertible {
    let gate: ServiceGate
    let journalHealth: AsyncStream<JournalHealth>
    let journalPath: String
    let metrics: KioskMetrics
    let metricsFile: MetricsFile
    let logger: Logger

    var description: String { "service gate" }

    func run() async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await gate.run() }
                group.addTask { await followJournalHealth() }
            }
        }
        gate.finish()
    }

    /// The coordinator reports each episode once: out of service (controller, screen, STATUS=),
    /// counted, logged once; back by itself when its write probe succeeds.
    private func followJournalHealth() async {
        for await change in journalHealth {
            switch change {
            case .unwritable(let detail):
                metrics.journalWritable(false)
                let problem = Self.journalProblem(detail)
                logger.error("\(problem.detail)")
                gate.submit(.journal(problem))
            case .writable:
                metrics.journalWritable(true)
                logger.notice("journal writable again: \(journalPath)")
                gate.submit(.journal(nil))
            }
            metricsFile.write()
        }
    }

    /// The out-of-service cause for a journal that does not take writes, with what to do.
    static func journalProblem(_ detail: String) -> ServiceProblem {
        ServiceProblem(
            reason: "journal unwritable",
            detail: "journal unwritable: \(detail). Check free space (df) and whether the card was remounted "
                + "read-only (dmesg); payments resume by themselves once a write succeeds")
    }
}
