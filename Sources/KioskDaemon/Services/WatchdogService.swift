import KioskCore
import KioskJournal
import Logging
import ServiceLifecycle
import VendSession

/// The watchdog failed its write probe; `description` is the journal's own error text.
struct JournalProbeFailure: Error, CustomStringConvertible {
    let description: String
}

/// systemd's watchdog (`WATCHDOG_USEC`): after READY, `WATCHDOG=1` every half interval while a
/// round trip into the coordinator and a journal write probe both finish within that half. Listed
/// before the coordinator, so it keeps pinging while the coordinator drains at shutdown.
struct WatchdogService: Service, CustomStringConvertible {
    /// nil: no watchdog asked for; the service only waits for shutdown.
    let interval: Duration?
    let notifier: SystemdNotifier
    let coordinator: VendCoordinator
    let journal: Journal
    let ready: Latch
    let logger: Logger

    var description: String { "watchdog" }

    func run() async {
        guard let interval else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            guard await ready.wait() else { return }
            await watch(interval: interval)
        }
    }

    /// A hung actor or a journal stuck in I/O stops the pings and systemd restarts us. A probe
    /// that answers with an error (card full or remounted read-only) keeps the pings: a restart
    /// cannot cure it and the next start would fail to open the journal. Instead the kiosk goes
    /// out of service ("journal unwritable") and comes back by itself once a write succeeds again.
    private func watch(interval: Duration) async {
        let half = interval / 2
        var probeFailing = false
        while !Task.isCancelled {
            // nil: no answer in time; "": healthy; otherwise why the write probe failed.
            let check = await withTimeout(half) { () -> String in
                _ = await coordinator.pollingCount()
                do {
                    try journal.probeWrite()
                    return ""
                } catch {
                    return String(describing: error)
                }
            }
            switch check {
            case .some(""):
                if probeFailing { logger.notice("watchdog: the journal takes writes again") }
                probeFailing = false
                notifier.notify(.watchdog)
            case .some(let failure):
                if !probeFailing {
                    logger.error(
                        "watchdog: the journal write probe failed: \(failure); out of service until it takes writes")
                    await coordinator.noticeJournalFault(JournalProbeFailure(description: failure))
                }
                probeFailing = true
                notifier.notify(.watchdog)
            case .none:
                logger.error(
                    "main loop unhealthy (coordinator or journal did not answer within \(half)); no watchdog ping")
            }
            do { try await Task.sleep(for: half) } catch { return }
        }
    }
}
