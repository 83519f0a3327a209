import KioskCore

/// Why the kiosk cannot take payments: each cause is kept apart by the daemon's service gate,
/// which reports the first that holds, in this order: stopping, journal, link (or starting: not
/// opened yet), adapter set-up, display, API (or starting: not checked yet).
public enum ServiceCause: Hashable, Sendable, CaseIterable {
    /// The daemon is shutting down (never cleared).
    case stopping
    /// Not started yet: the serial link not opened, or the API not checked.
    case starting
    /// The journal takes no writes (full, read-only).
    case journal
    /// The serial link to the controller is down.
    case link
    /// The payment adapter refused its set-up.
    case adapterSetUp
    /// The display cannot be opened or written.
    case display
    /// The API cannot be reached or refuses the token.
    case api
}

/// Whether the kiosk takes payments, and if not why: what the controller (`READY` /
/// `OUT-OF-SERVICE <reason>`) and the screen are told. The coordinator sends it, through its
/// output queue, and nothing else does.
public enum ServiceState: Hashable, Sendable {
    case inService
    /// `reason`: the short text for the controller and the screen.
    case outOfService(ServiceCause, reason: String)

    /// Shutting down: what the drain waits to see go out.
    public static let shuttingDown = ServiceState.outOfService(.stopping, reason: "shutting down")
    /// The journal takes no writes: the coordinator's own cause (it finds it and probes it).
    public static let journalUnwritable = ServiceState.outOfService(.journal, reason: "journal unwritable")

    public var available: Bool { self == .inService }

    /// The short reason, out of service.
    public var reason: String? {
        if case .outOfService(_, let reason) = self { return reason }
        return nil
    }

    /// What the controller hears.
    public var command: ControllerCommand {
        switch self {
        case .inService: .ready
        case .outOfService(_, let reason): .outOfService(reason: reason)
        }
    }

    /// The idle screen.
    public var screen: ScreenIntent {
        switch self {
        case .inService: .idle
        case .outOfService(_, let reason): .outOfService(reason: reason)
        }
    }
}
