import DripPayAPI
import Logging
import ServiceLifecycle
import VendSession

/// Start-up and systemd's start/stop protocol: waits for the serial link's first open attempt
/// (bounded), checks the API, settles the journal's open sessions (recovery), then `READY=1` and
/// opens `ready` for the loops that run only after it. Last in the daemon's list, so it is the
/// first to hear graceful shutdown: `STOPPING=1` goes out before the coordinator drains.
struct StartupService: Service, CustomStringConvertible {
    let link: LinkActivity
    /// How long to wait for the link's first open attempt before going on.
    let linkSettle: Duration
    let client: DripPayClient
    let gate: ServiceGate
    let coordinator: VendCoordinator
    let notifier: SystemdNotifier
    let status: StatusBoard
    let journalPath: String
    let ready: Latch
    let logger: Logger

    var description: String { "start-up" }

    func run() async throws {
        _ = await link.pulse.wait(until: { link.events.value > 0 }, timeout: linkSettle)
        // A fatal link fault cancels the group: nothing more to start.
        if Task.isCancelled { return }
        let problem = await APIHealthService.apiProblem(client: client)
        await gate.apply(.api(problem))
        do {
            try await coordinator.recoverOnStart()
        } catch {
            throw DaemonError.recovery(path: journalPath, error)
        }
        let openCount = await coordinator.openSessions().count
        if openCount > 0 { logger.notice("recovering \(openCount) open session(s) from the journal") }
        notifier.notify(.ready, .status(status.text))
        logger.notice("ready")
        ready.open()

        do { try await gracefulShutdown() } catch { return }
        notifier.notify(.stopping, .status("shutting down"))
    }
}
