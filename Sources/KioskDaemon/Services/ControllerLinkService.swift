import ControllerLink
import KioskCore
import ServiceLifecycle
import VendSession

/// What start-up waits for from the link: its first event (the first open attempt's outcome).
final class LinkActivity: Sendable {
    /// Signalled after each link event.
    let pulse = Pulse()
    /// How many link events came so far.
    let events = Locked(0)
}

/// The serial link to the controller: opens, reads and reopens the device, and hands each event
/// on (up and down to the service gate, controller events to the coordinator). First in the
/// daemon's list, so it stops last: the coordinator's drain still hears the controller.
///
/// A device another process holds at start is fatal: `run()` throws
/// `DaemonError.alreadyRunning` and the group stops at once.
struct ControllerLinkService: Service, CustomStringConvertible {
    let link: ControllerLink
    let gate: ServiceGate
    let coordinator: VendCoordinator
    let metrics: KioskMetrics
    let activity: LinkActivity

    var description: String { "controller link" }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    do {
                        try await link.run()
                    } catch let error as LinkError {
                        throw DaemonError.alreadyRunning(error)  // the device is held by another process
                    } catch {
                        // Only cancellation ends the link otherwise.
                    }
                }
                group.addTask { await forwardEvents() }
            }
        }
    }

    private func forwardEvents() async {
        var wasUp = false
        var isDown = false
        for await event in link.events {
            switch event {
            case .up:
                if wasUp && isDown { metrics.serialReconnected() }
                wasUp = true
                isDown = false
                gate.submit(.linkUp)
            case .down(let reason):
                isDown = true
                gate.submit(
                    .linkDown(ServiceProblem(reason: "serial link down", detail: "serial link down (\(reason))")))
                await coordinator.linkChanged(up: false)
            case .controller(let event):
                if let change = ServiceGate.adapterChange(event) { gate.submit(change) }
                await coordinator.handle(event)
            }
            activity.events.update { $0 += 1 }
            activity.pulse.signal()
        }
    }
}
