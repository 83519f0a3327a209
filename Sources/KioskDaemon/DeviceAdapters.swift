import ControllerLink
import Foundation
import KioskCore
import KioskDisplay
import Logging
import Synchronization
import VendSession

/// The serial link as the coordinator's `ControllerPort`. Tells the dispense-latency metric
/// when a `DISPENSE` line went out, and the daemon every command written (for shutdown).
public struct LinkControllerPort: ControllerPort {
    private let link: ControllerLink
    private let latency: DispenseLatency?
    private let onSent: @Sendable (ControllerCommand) -> Void

    public init(
        link: ControllerLink, latency: DispenseLatency? = nil, onSent: @escaping @Sendable (ControllerCommand) -> Void = { _ in }
    ) {
        self.link = link
        self.latency = latency
        self.onSent = onSent
    }

    public func send(_ command: ControllerCommand) async throws {
        try await link.send(command)
        if case .dispense = command { latency?.dispensed() }
        onSent(command)
    }
}

/// The display as the coordinator's `ScreenPort`: maps each `ScreenIntent` to the display's
/// `Screen`, and while a pay screen is up re-renders its countdown once a second. Every screen
/// is drawn by `run()`, one at a time, so a late countdown tick never overdraws a newer screen.
public final class DisplayScreenPort: ScreenPort {
    private enum Draw: Sendable {
        case intent(ScreenIntent)
        case tick(generation: UInt64)
    }

    private let output: any DisplayOutput
    private let now: @Sendable () -> Date
    private let sleep: @Sendable (Duration) async throws -> Void
    private let logger: Logger
    private let observer: @Sendable (ScreenIntent) -> Void
    private let draws: AsyncStream<Draw>
    private let drawSink: AsyncStream<Draw>.Continuation
    /// Bumped on every new screen; a countdown ticker stops once it is no longer current.
    private let generation = Atomic<UInt64>(0)
    /// The last screen drawn (its render returned), for `waitUntilDrawn`.
    private let lastDrawn = Mutex<ScreenIntent?>(nil)
    private let drawn = Pulse()

    /// - Parameters:
    ///   - observer: sees every intent as it is drawn (status line, demo, tests).
    ///   - sleep: waits between countdown ticks; tests pass a manual clock's.
    public init(
        output: any DisplayOutput, now: @escaping @Sendable () -> Date = Date.init, logger: Logger,
        observer: @escaping @Sendable (ScreenIntent) -> Void = { _ in },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.output = output
        self.now = now
        self.sleep = sleep
        self.logger = logger
        self.observer = observer
        (draws, drawSink) = AsyncStream.makeStream()
    }

    public func show(_ intent: ScreenIntent) async {
        drawSink.yield(.intent(intent))
    }

    /// Draws screens until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            var current: ScreenIntent?
            for await item in draws {
                switch item {
                case .intent(let intent):
                    let mine = generation.add(1, ordering: .sequentiallyConsistent).newValue
                    current = intent
                    observer(intent)
                    await render(intent)
                    lastDrawn.withLock { $0 = intent }
                    drawn.signal()
                    if case .pay(_, _, _, let deadline) = intent {
                        group.addTask { await self.tick(generation: mine, until: deadline) }
                    }
                case .tick(let tick):
                    guard tick == generation.load(ordering: .sequentiallyConsistent), let current else { continue }
                    await render(current)
                }
            }
            group.cancelAll()
        }
    }

    /// Waits (bounded) until the last screen drawn is `intent`: shutdown draws its final screen
    /// and exits only once it is on the display. False on timeout.
    public func waitUntilDrawn(_ intent: ScreenIntent, timeout: Duration) async -> Bool {
        await drawn.wait(until: { self.lastDrawn.withLock { $0 } == intent }, timeout: timeout)
    }

    private func tick(generation mine: UInt64, until deadline: Date) async {
        while !Task.isCancelled, generation.load(ordering: .sequentiallyConsistent) == mine, now() < deadline {
            do { try await sleep(.seconds(1)) } catch { return }
            guard generation.load(ordering: .sequentiallyConsistent) == mine else { return }
            drawSink.yield(.tick(generation: mine))
        }
    }

    private func render(_ intent: ScreenIntent) async {
        do {
            try await output.show(Self.screen(for: intent, now: now()))
        } catch {
            logger.error("display: \(error)")
        }
    }

    /// The display's screen for a coordinator intent at `now` (the countdown is computed here).
    public static func screen(for intent: ScreenIntent, now: Date) -> Screen {
        switch intent {
        case .idle:
            return .idle(message: "Choose a product")
        case .pay(let payload, let product, let price, let deadline):
            let left = Int(max(0, deadline.timeIntervalSince(now)).rounded(.up))
            return .pay(PayScreen(qrPayload: payload, product: product, price: price, secondsLeft: left))
        case .paid(let product):
            return .paid(product: product)
        case .cancelled(let reason):
            return .cancelled(reason: reason)
        case .refundDue(let tradeNo):
            return .cancelled(reason: "Paid but not dispensed. You will be refunded; reference \(tradeNo)")
        case .outOfService(let reason):
            return .outOfService(reason: reason)
        }
    }
}
