import KioskCore
import ServiceLifecycle

/// The display: draws the coordinator's screens (pay-code keeper and countdown included) and, for
/// a framebuffer, reopens the device with back-off when it is missing or lost, each change being
/// a display cause at the service gate.
struct DisplayService: Service, CustomStringConvertible {
    let screen: DisplayScreenPort
    /// Only for `[display] output = "framebuffer"`: the reopening device and its problems.
    let reopening: ReopeningDisplay?
    let problems: AsyncStream<ServiceProblem?>
    let gate: ServiceGate

    var description: String { "display" }

    func run() async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await screen.run() }
                if let reopening {
                    group.addTask { await reopening.run() }
                    group.addTask { for await problem in problems { gate.submit(.display(problem)) } }
                }
            }
        }
    }
}
