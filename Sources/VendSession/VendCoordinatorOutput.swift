import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The coordinator's output: FIFO queues to the controller and the screen, drained by `run()`,
/// and the per-session job queues.
extension VendCoordinator {
    // MARK: Output

    func enqueue(_ command: ControllerCommand, for tradeNo: TradeNo? = nil) {
        commandSink.yield((command, tradeNo))
    }

    func drainCommands() async {
        for await (command, tradeNo) in commands {
            do {
                try await controller.send(command)
                if case .dispense = command, let tradeNo { deliver(.dispenseSent, to: tradeNo) }
            } catch {
                if case .dispense = command, let tradeNo {
                    // Some bytes of the line out: the machine may dispense; none: it cannot.
                    let partly = (error as? any ControllerWriteFailure)?.someBytesLeft ?? false
                    let message = String(describing: error)
                    deliver(partly ? .dispenseSendIncomplete(message) : .dispenseSendFailed(message), to: tradeNo)
                } else if let tradeNo {
                    _ = try? store.appendEvent(
                        tradeNo: tradeNo, event: .sendFailed, detail: "\(command): \(error)", at: now())
                }
            }
        }
    }

    func drainScreens() async {
        for await update in screens {
            switch update {
            case .show(let intent): await screen.show(intent)
            case .notice(let notice): await screen.showNotice(notice)
            }
        }
    }

    func submit(for tradeNo: TradeNo, _ job: @escaping Job) {
        if let sink = sessionJobSinks[tradeNo] {
            sink.yield(job)
            return
        }
        let (sessionJobs, sink) = AsyncStream<Job>.makeStream()
        sessionJobSinks[tradeNo] = sink
        sink.yield(job)
        jobSink.yield {
            await withDiscardingTaskGroup { group in
                for await job in sessionJobs {
                    group.addTask { await job() }
                }
                // The session left: its timers, poll loop and API calls still running are moot.
                group.cancelAll()
            }
        }
    }

    func sleep(for duration: Duration) async throws {
        try await sleeper(duration)
    }
}
