import Logging
import VendSession

/// The service gate's decisions, without I/O: a change of one cause in, the actions out. One
/// problem per cause; the state the kiosk is in is the first cause that holds (`order`).
/// `ServiceGate` applies the actions; tests drive the machine alone.
struct ServiceGateMachine: Sendable {
    /// One cause changed.
    enum Change: Sendable, Equatable {
        /// The start-up's or a health check's finding about the API (nil: it works).
        case api(ServiceProblem?)
        case linkDown(ServiceProblem)
        /// The link (re)opened: the controller must hear whether payments work now, even if
        /// nothing changed (it may have restarted or just been plugged in).
        case linkUp
        /// The display could not be opened or written (nil: it works again).
        case display(ServiceProblem?)
        /// The journal stopped taking writes (nil: it takes them again).
        case journal(ServiceProblem?)
        /// The payment adapter refused its set-up (nil: a later set-up succeeded).
        case adapterSetUp(ServiceProblem?)
        case stopping
    }

    /// What the gate does about a change.
    enum Action: Sendable, Equatable {
        case log(Logger.Level, String)
        /// systemd's STATUS= line: the out-of-service detail, nil in service.
        case status(String?)
        /// The `in_service` metric and `ServiceGate.isAvailable`.
        case available(Bool)
        /// To the coordinator, the one path to the controller and the screen.
        case tell(ServiceState, reannounce: Bool)
    }

    /// Which cause wins when several hold.
    static let order: [ServiceCause] = [.stopping, .journal, .link, .adapterSetUp, .display, .api]

    static let stoppingProblem = ServiceProblem(reason: "shutting down", detail: "shutting down")
    static let linkNotOpened = ServiceProblem(reason: "starting up", detail: "starting up: opening the serial link")
    static let apiNotChecked = ServiceProblem(reason: "starting up", detail: "starting up: checking the API")

    private(set) var problems: [ServiceCause: ServiceProblem] = [:]
    /// Whether the link has opened or failed once, and the API was checked once: until then
    /// their place in `order` holds `.starting`.
    private var linkKnown = false
    private var apiChecked = false
    /// The last state logged (logged only when it changes).
    private var logged: (cause: ServiceCause, problem: ServiceProblem)?

    init() { logged = current }

    /// The cause that holds now and its problem; nil: in service.
    var current: (cause: ServiceCause, problem: ServiceProblem)? {
        for cause in Self.order {
            if let problem = problems[cause] { return (cause, problem) }
            if cause == .link, !linkKnown { return (.starting, Self.linkNotOpened) }
            if cause == .api, !apiChecked { return (.starting, Self.apiNotChecked) }
        }
        return nil
    }

    var state: ServiceState {
        current.map { .outOfService($0.cause, reason: $0.problem.reason) } ?? .inService
    }

    /// The actions before any change: systemd's STATUS= says it is starting.
    var initialActions: [Action] { [.status(current?.problem.detail)] }

    mutating func apply(_ change: Change) -> [Action] {
        var reannounce = false
        switch change {
        case .api(let problem):
            apiChecked = true
            problems[.api] = problem
        case .linkDown(let problem):
            linkKnown = true
            problems[.link] = problem
        case .linkUp:
            linkKnown = true
            problems[.link] = nil
            reannounce = true
        case .display(let problem): problems[.display] = problem
        case .journal(let problem): problems[.journal] = problem
        case .adapterSetUp(let problem): problems[.adapterSetUp] = problem
        case .stopping: problems[.stopping] = Self.stoppingProblem
        }
        var actions: [Action] = []
        let now = current
        if now?.cause != logged?.cause || now?.problem != logged?.problem {
            switch now {
            case (.starting, let problem)?: actions.append(.log(.info, problem.detail))
            case (_, let problem)?: actions.append(.log(.warning, "out of service: \(problem.detail)"))
            case nil: actions.append(.log(.notice, "in service: taking payments"))
            }
            logged = now
        }
        actions += [.available(now == nil), .status(now?.problem.detail), .tell(state, reannounce: reannounce)]
        return actions
    }
}
