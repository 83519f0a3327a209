import ControllerLink
import KioskCore
import Logging
import Synchronization
import VendSession

/// Why the kiosk cannot take payments: a short reason for the controller and the screen, and
/// the detail a technician reads in `systemctl status` and the log.
public struct ServiceProblem: Hashable, Sendable {
    public var reason: String
    public var detail: String

    public init(reason: String, detail: String) {
        self.reason = reason
        self.detail = detail
    }
}

/// The line `systemctl status` shows: out of service with its cause, else what the customer is
/// doing. Sent only when it changes.
final class StatusBoard: Sendable {
    private struct State {
        var outOfService: String?
        var activity = "waiting for customer"
        var last: String?
    }

    private let state = Mutex(State())
    private let notifier: SystemdNotifier

    init(notifier: SystemdNotifier) { self.notifier = notifier }

    var text: String { state.withLock { Self.render($0) } }

    func setOutOfService(_ detail: String?) {
        publish { $0.outOfService = detail }
    }

    func screenShown(_ intent: ScreenIntent) {
        let activity: String?
        switch intent {
        case .idle, .outOfService: activity = "waiting for customer"
        case .pay(_, let product, let price, _): activity = "customer paying: \(price) (\(product))"
        case .paid(let product): activity = "dispensing \(product)"
        case .cancelled(let reason): activity = "vend ended without sale: \(reason)"
        case .refundDue(let tradeNo):
            activity = "refund due for trade_no \(tradeNo) (reference \(tradeNo.customerReference))"
        case .dispenseUnknown(let tradeNo):
            activity = "dispense unknown for trade_no \(tradeNo) (reference \(tradeNo.customerReference))"
        case .unresolved(let tradeNo):
            activity = "unresolved trade_no \(tradeNo) (reference \(tradeNo.customerReference))"
        }
        if let activity { publish { $0.activity = activity } }
    }

    private func publish(_ change: (inout State) -> Void) {
        let text = state.withLock { s -> String? in
            change(&s)
            let text = Self.render(s)
            guard text != s.last else { return nil }
            s.last = text
            return text
        }
        if let text { notifier.notify(.status(text)) }
    }

    private static func render(_ s: State) -> String {
        if let reason = s.outOfService { return "out of service: \(reason)" }
        return s.activity
    }
}

/// Decides whether the kiosk takes payments from its causes (`ServiceGateMachine`) and tells
/// the coordinator, which alone tells the controller and the screen. Changes are applied in
/// order by `run()`, one at a time.
final class ServiceGate: Sendable {
    typealias Change = ServiceGateMachine.Change

    private let changes: AsyncStream<Change>
    private let sink: AsyncStream<Change>.Continuation
    private let coordinator: VendCoordinator
    private let status: StatusBoard
    private let metrics: KioskMetrics
    private let logger: Logger
    private let available = Atomic<Bool>(false)
    private let submitted = Locked<UInt64>(0)
    private let appliedCount = Locked<UInt64>(0)
    private let applied = Pulse()

    init(coordinator: VendCoordinator, status: StatusBoard, metrics: KioskMetrics, logger: Logger) {
        self.coordinator = coordinator
        self.status = status
        self.metrics = metrics
        self.logger = logger
        (changes, sink) = AsyncStream.makeStream()
    }

    /// Whether the kiosk takes payments now (as last applied).
    var isAvailable: Bool { available.load(ordering: .relaxed) }

    func submit(_ change: Change) {
        submitted.update { count in
            count += 1
            sink.yield(change)
        }
    }

    /// Submits a change and waits (bounded) until it and every earlier one were applied, so a
    /// status sent next reflects it.
    func apply(_ change: Change, timeout: Duration = .seconds(2)) async {
        let mine = submitted.update { count -> UInt64 in
            count += 1
            sink.yield(change)
            return count
        }
        _ = await applied.wait(until: { self.appliedCount.value >= mine }, timeout: timeout)
    }

    /// Applies changes until cancelled.
    func run() async {
        var machine = ServiceGateMachine()
        await perform(machine.initialActions)
        for await change in changes {
            await perform(machine.apply(change))
            appliedCount.update { $0 += 1 }
            applied.signal()
        }
    }

    private func perform(_ actions: [ServiceGateMachine.Action]) async {
        for action in actions {
            switch action {
            case .log(let level, let text): logger.log(level: level, "\(text)")
            case .status(let detail): status.setOutOfService(detail)
            case .available(let value):
                available.store(value, ordering: .relaxed)
                metrics.setInService(value)
            case .tell(let state, let reannounce): await coordinator.setService(state, reannounce: reannounce)
            }
        }
    }

    func finish() { sink.finish() }
}

extension ServiceGate {
    /// The gate's change for a controller event about the payment adapter's set-up, if any: a
    /// refused set-up takes the kiosk out of service (the detail names the refused parameter,
    /// the adapter's answer and the config key to fix); a finished one brings it back.
    static func adapterChange(_ event: ControllerEvent) -> Change? {
        switch event {
        case .setUpRefused(let reason):
            return .adapterSetUp(
                ServiceProblem(
                    reason: "card reader set-up refused", detail: "payment adapter set-up refused: \(reason)"))
        case .setUpDone:
            return .adapterSetUp(nil)
        default:
            return nil
        }
    }
}
