import ControllerLink
import Glibc
import KioskDisplay
import Logging

/// The framebuffer as a device that may come late or go away, handled like the serial link:
/// while it cannot be opened (udev loads the DRM driver seconds after the unit starts, or the
/// panel is unplugged) the kiosk is out of service and the device is reopened with back-off;
/// when it opens, the kiosk is back and the latest screen is drawn. It never ends the daemon.
actor ReopeningDisplay: DisplayOutput {
    /// Opens the device (the real one: `FramebufferOutput`; tests: a closure that fails first).
    typealias Opener = @Sendable () throws(DisplayError) -> any DisplayOutput

    private let device: String
    private let open: Opener
    private let backoff: ControllerLink.Backoff
    private let onChange: @Sendable (ServiceProblem?) -> Void
    private let logger: Logger
    private var output: (any DisplayOutput)?
    private var latest: Screen?
    /// The failure last reported (nil: none since the display was last open).
    private var reported: DisplayError?
    private let lost = Pulse()
    /// Signalled when the screen must be drawn again as it is (the text console was switched
    /// back to text mode by another program and drew over it).
    private let redraw: Pulse

    init(
        device: String, backoff: ControllerLink.Backoff, logger: Logger,
        onChange: @escaping @Sendable (ServiceProblem?) -> Void, redraw: Pulse = Pulse(), open: @escaping Opener
    ) {
        self.device = device
        self.redraw = redraw
        self.open = open
        self.backoff = backoff
        self.logger = logger
        self.onChange = onChange
    }

    /// Whether an open failure is the device being absent or not ready, which time can cure.
    /// Everything else (fonts, an unsupported pixel format) is a set-up fault a person must fix.
    static func isTransient(_ error: DisplayError) -> Bool {
        switch error {
        case .framebufferOpenFailed, .framebufferQueryFailed, .framebufferWriteFailed: return true
        default: return false
        }
    }

    /// The first open, at start-up: a transient failure leaves the display closed (the kiosk
    /// out of service, `run()` retrying); any other failure is thrown (the daemon cannot run).
    func start() throws(DisplayError) {
        do throws(DisplayError) {
            try attach(open())
        } catch  where Self.isTransient(error) {
            report(error)
        }
    }

    func show(_ screen: Screen) async throws {
        latest = screen
        guard let output else { return }  // drawn when the display is back
        do {
            try await output.show(screen)
        } catch let error as DisplayError where Self.isTransient(error) {
            self.output = nil
            report(error)
            lost.signal()
        }
    }

    /// Reopens the device whenever it is closed, until cancelled.
    func run() async {
        var failures = 0
        while !Task.isCancelled {
            if output != nil {
                let seenLost = lost.generation
                let seenRedraw = redraw.generation
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.lost.wait(after: seenLost, timeout: .seconds(3600)) }
                    group.addTask { await self.redraw.waitForSignal(after: seenRedraw) }
                    await group.next()
                    group.cancelAll()
                }
                if redraw.generation != seenRedraw, let latest, let output {
                    do { try await output.show(latest) } catch { logger.error("display: \(error)") }
                }
                continue
            }
            do throws(DisplayError) {
                try attach(open())
                failures = 0
                if let latest, let output {
                    do { try await output.show(latest) } catch { logger.error("display: \(error)") }
                }
            } catch {
                failures += 1
                report(error)
                do { try await Task.sleep(for: backoff.delay(afterFailures: failures)) } catch { return }
            }
        }
    }

    private func attach(_ opened: any DisplayOutput) {
        output = opened
        reported = nil
        if let framebuffer = opened as? FramebufferOutput, let warning = framebuffer.consoleWarning {
            logger.warning("display: \(warning)")
        }
        logger.notice("display \(device) is open")
        onChange(nil)
    }

    /// Out of service, said once per outage and cause (retries failing the same way are silent).
    private func report(_ error: DisplayError) {
        guard reported != error else { return }
        reported = error
        logger.warning("display: \(error); retrying until it is there")
        onChange(ServiceProblem(reason: "display unavailable", detail: "display unavailable (\(error))"))
    }
}
