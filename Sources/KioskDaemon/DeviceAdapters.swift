import ControllerLink
import KioskCore
import KioskDisplay
import Logging
import Synchronization
import VendSession

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The serial link as the coordinator's `ControllerPort`. Tells the dispense-latency metric
/// when a `DISPENSE` line went out, and the daemon every command written (for shutdown).
public struct LinkControllerPort: ControllerPort {
    private let link: ControllerLink
    private let latency: DispenseLatency?
    private let onSent: @Sendable (ControllerCommand) -> Void

    public init(
        link: ControllerLink, latency: DispenseLatency? = nil,
        onSent: @escaping @Sendable (ControllerCommand) -> Void = { _ in }
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
///
/// With a `PayCodeKeeper`, a pay screen whose payload names the invoice's QR image
/// (`InvoiceImageRef`) gets its code from the keeper: fetched, decoded, redrawn and kept fresh
/// while that screen is current; each code the keeper hands over is drawn at once, in one frame.
public final class DisplayScreenPort: ScreenPort {
    private enum Draw: Sendable {
        case intent(ScreenIntent)
        case tick(generation: UInt64)
        case code(generation: UInt64, PayCode)
        case notice(String?)
    }

    private let output: any DisplayOutput
    private let now: @Sendable () -> Date
    private let sleep: @Sendable (Duration) async throws -> Void
    private let logger: Logger
    private let observer: @Sendable (ScreenIntent) -> Void
    private let drawn: @Sendable (Screen) -> Void
    private let payCodes: PayCodeKeeper?
    private let support: SupportOptions
    private let draws: AsyncStream<Draw>
    private let drawSink: AsyncStream<Draw>.Continuation
    /// Bumped on every new screen; a countdown ticker or a pay-code keeper stops once it is no longer current.
    private let generation = Atomic<UInt64>(0)
    /// Signalled on every new screen, so a keeper waiting for its next fetch stops at once.
    private let changed = Pulse()
    /// The last screen drawn (its render returned), for `waitUntilDrawn`.
    private let lastDrawn = Mutex<ScreenIntent?>(nil)
    private let drawnSignal = Pulse()

    /// - Parameters:
    ///   - observer: sees every intent as it is drawn (status line, demo, tests).
    ///   - drawn: sees every screen after the output drew it (the demo's customer scans it).
    ///   - payCodes: fetches and keeps the invoice's own QR image (`[qr] source = "invoice-image"`).
    ///   - support: the contact and help page a refund notice shows (`[support]`).
    ///   - sleep: waits between countdown ticks; tests pass a manual clock's.
    public init(
        output: any DisplayOutput, now: @escaping @Sendable () -> Date = Date.init, logger: Logger,
        payCodes: PayCodeKeeper? = nil, support: SupportOptions = SupportOptions(),
        drawn: @escaping @Sendable (Screen) -> Void = { _ in },
        observer: @escaping @Sendable (ScreenIntent) -> Void = { _ in },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.output = output
        self.now = now
        self.sleep = sleep
        self.logger = logger
        self.observer = observer
        self.drawn = drawn
        self.payCodes = payCodes
        self.support = support
        (draws, drawSink) = AsyncStream.makeStream()
    }

    public func show(_ intent: ScreenIntent) async {
        drawSink.yield(.intent(intent))
    }

    public func showNotice(_ notice: String?) async {
        drawSink.yield(.notice(notice))
    }

    /// Draws screens until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            var current: ScreenIntent?
            var code: PayCode?
            // Drawn on the current pay screen until the next screen; the keeper and the
            // countdown go on untouched (same generation).
            var notice: String?
            for await item in draws {
                switch item {
                case .intent(let intent):
                    let mine = generation.add(1, ordering: .sequentiallyConsistent).newValue
                    changed.signal()
                    current = intent
                    code = nil
                    notice = nil
                    observer(intent)
                    if case .pay(let payload, _, _, let deadline) = intent {
                        if let keeper = payCodes, let ref = InvoiceImageRef(payload: payload) {
                            code = .waiting(message: PayCodeKeeper.gettingCode)
                            group.addTask {
                                await keeper.keep(
                                    ref, deadline: deadline, changed: self.changed,
                                    isCurrent: { self.generation.load(ordering: .sequentiallyConsistent) == mine },
                                    present: { self.drawSink.yield(.code(generation: mine, $0)) })
                            }
                        }
                        group.addTask { await self.tick(generation: mine, until: deadline) }
                    }
                    await render(intent, code: code, notice: notice)
                    lastDrawn.withLock { $0 = intent }
                    drawnSignal.signal()
                case .tick(let tick):
                    guard tick == generation.load(ordering: .sequentiallyConsistent), let current else { continue }
                    await render(current, code: code, notice: notice)
                case .code(let tick, let new):
                    guard tick == generation.load(ordering: .sequentiallyConsistent), let current, new != code else {
                        continue
                    }
                    code = new
                    await render(current, code: code, notice: notice)
                case .notice(let new):
                    guard new != notice else { continue }
                    notice = new
                    if let current, case .pay = current { await render(current, code: code, notice: notice) }
                }
            }
            group.cancelAll()
        }
    }

    /// Waits (bounded) until the last screen drawn is `intent`: shutdown draws its final screen
    /// and exits only once it is on the display. False on timeout.
    public func waitUntilDrawn(_ intent: ScreenIntent, timeout: Duration) async -> Bool {
        await drawnSignal.wait(until: { self.lastDrawn.withLock { $0 } == intent }, timeout: timeout)
    }

    private func tick(generation mine: UInt64, until deadline: Date) async {
        while !Task.isCancelled, generation.load(ordering: .sequentiallyConsistent) == mine, now() < deadline {
            do { try await sleep(.seconds(1)) } catch { return }
            guard generation.load(ordering: .sequentiallyConsistent) == mine else { return }
            drawSink.yield(.tick(generation: mine))
        }
    }

    private func render(_ intent: ScreenIntent, code: PayCode?, notice: String?) async {
        let screen = Self.screen(for: intent, now: now(), code: code, notice: notice, support: support)
        do {
            try await output.show(screen)
            drawn(screen)
        } catch {
            logger.error("display: \(error)")
        }
    }

    /// The display's screen for a coordinator intent at `now` (the countdown is computed here);
    /// `code`, when given, replaces the pay intent's payload in the QR area; `notice` is drawn on
    /// a pay screen only; `support` fills a refund notice's contact and help page.
    public static func screen(
        for intent: ScreenIntent, now: Date, code: PayCode? = nil, notice: String? = nil,
        support: SupportOptions = SupportOptions()
    ) -> Screen {
        switch intent {
        case .idle:
            return .idle
        case .pay(let payload, let product, let price, let deadline):
            let left = Int(max(0, deadline.timeIntervalSince(now)).rounded(.up))
            return .pay(
                PayScreen(
                    code: code ?? .text(payload), product: product, price: price, secondsLeft: left, notice: notice))
        case .paid(let product):
            return .paid(product: product)
        case .cancelled(let reason):
            return .cancelled(reason: reason)
        case .refundDue(let tradeNo):
            return .refund(RefundNotice(kind: .refundDue, tradeNo: tradeNo, support: support))
        case .dispenseUnknown(let tradeNo):
            return .refund(RefundNotice(kind: .dispenseUnknown, tradeNo: tradeNo, support: support))
        case .unresolved(let tradeNo):
            return .refund(RefundNotice(kind: .unresolved, tradeNo: tradeNo, support: support))
        case .outOfService(let reason):
            return .outOfService(reason: reason)
        }
    }
}
