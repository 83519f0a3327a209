import KioskCore
import Logging
import ServiceLifecycle
import VendSession

/// What the controller port saw go out, for the drain: any command, and the shutdown announcement.
final class CommandsSent: Sendable {
    /// Signalled after each command written to the controller.
    let pulse = Pulse()
    /// Whether `OUT-OF-SERVICE shutting down` went out.
    let shutdownAnnounced = Locked(false)

    func sent(_ command: ControllerCommand) {
        if command == ServiceState.shuttingDown.command { shutdownAnnounced.set(true) }
        pulse.signal()
    }
}

/// The vend coordinator: runs the sessions (API calls, polling, timers, output) and reports each
/// one that ends. Its graceful shutdown is the dispense drain: no new vends, a dispense in flight
/// may finish (bounded), with MDB the unclaimable invoices are cancelled, the out-of-service
/// screen is drawn, and whatever is still open stays in the journal for recovery.
struct CoordinatorService: Service, CustomStringConvertible {
    let coordinator: VendCoordinator
    let gate: ServiceGate
    let screen: DisplayScreenPort
    let commands: CommandsSent
    /// How long the drain waits for a dispense in flight to be reported.
    let dispenseDrain: Duration
    /// MDB has no vend ids: invoices awaiting payment are cancelled at shutdown.
    let cancelsUnclaimable: Bool
    let metrics: KioskMetrics
    let metricsFile: MetricsFile
    let onOutcome: @Sendable (SessionOutcome) -> Void
    let logger: Logger

    var description: String { "vend coordinator" }

    func run() async throws {
        let sessionEnded = Pulse()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await coordinator.run() }
            group.addTask {
                for await outcome in coordinator.outcomes {
                    ended(outcome)
                    sessionEnded.signal()
                }
            }
            do {
                try await gracefulShutdown()
            } catch {
                group.cancelAll()  // cancelled without a graceful shutdown: just stop
                return
            }
            await drain(sessionEnded: sessionEnded)
            group.cancelAll()
        }
    }

    /// Graceful shutdown: no new vends, a dispense in flight may finish, the rest is parked.
    private func drain(sessionEnded: Pulse) async {
        logger.notice("shutting down: no new vends")
        gate.submit(.stopping)
        _ = await commands.pulse.wait(until: { commands.shutdownAnnounced.value }, timeout: .seconds(1))
        let drained = await sessionEnded.wait(
            until: {
                await coordinator.openSessions().allSatisfy {
                    !($0.record.state == .dispensing || ($0.record.state == .paid && $0.controllerWaiting))
                }
            }, timeout: dispenseDrain)
        if !drained { logger.warning("a dispense did not finish in time; the journal keeps it for recovery") }
        if cancelsUnclaimable {
            // MDB has no vend ids: nobody can re-claim these vends after the restart, so their
            // invoices are cancelled now (with the re-check) rather than left payable.
            let abandoned = await coordinator.abandonUnclaimable()
            if !abandoned.isEmpty {
                logger.notice("shutting down: cancelling \(abandoned.count) invoice(s) the controller cannot re-claim")
                let settled = await sessionEnded.wait(
                    until: { await coordinator.openSessions().allSatisfy { !abandoned.contains($0.record.tradeNo) } },
                    timeout: .seconds(3))
                if !settled { logger.warning("a cancel did not finish in time; the journal keeps it for recovery") }
            }
        }
        // The last screen: no QR may stay up on a framebuffer once nobody watches it.
        let finalScreen = ServiceState.shuttingDown.screen
        await coordinator.showFinalScreen(finalScreen)
        if !(await screen.waitUntilDrawn(finalScreen, timeout: .seconds(1))) {
            logger.warning("the out-of-service screen was not drawn before exit")
        }
        let parked = await coordinator.openSessions()
        for session in parked {
            logger.notice(
                "session left open in the journal for recovery",
                metadata: ["trade_no": "\(session.record.tradeNo)", "state": "\(session.record.state.rawValue)"])
        }
        metricsFile.refresh()
        metricsFile.write()
    }

    private func ended(_ outcome: SessionOutcome) {
        let record = outcome.record
        switch outcome.ending {
        case .finished(let state):
            metrics.vendEnded(outcome: state.rawValue)
            let level: Logger.Level = state.isOperatorSettleable ? .warning : .info
            logger.log(
                level: level, "session ended",
                metadata: [
                    "trade_no": "\(record.tradeNo)", "vend": "\(record.vendID)", "state": "\(state.rawValue)",
                    "note": "\(record.note ?? "")",
                ])
        case .parked(let reason):
            metrics.vendEnded(outcome: "parked")
            logger.error(
                "session parked: \(reason)", metadata: ["trade_no": "\(record.tradeNo)", "vend": "\(record.vendID)"])
        }
        metricsFile.refresh()
        metricsFile.write()
        onOutcome(outcome)
    }
}
