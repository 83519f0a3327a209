import ControllerLink
import DripPayAPI
import KioskCore
import KioskDisplay
import KioskJournal
import VendSession

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why the daemon could not start or had to stop. Each says what to do.
public enum DaemonError: Error, CustomStringConvertible {
    /// The journal could not be opened (corrupt, unwritable, wrong schema).
    case journal(path: String, JournalError)
    /// The display could not be opened (framebuffer, fonts, PNG directory).
    case display(DisplayError)
    /// The API client could not be set up (base URL).
    case api(DripPayError)
    /// The open sessions in the journal could not be read for recovery.
    case recovery(path: String, any Error)
    /// Another daemon holds the journal (or its lock could not be taken).
    case alreadyRunning(any Error)

    public var description: String {
        switch self {
        case .journal(let path, let error):
            return "cannot use the journal \(path): \(error). The journal is the only record of payments: "
                + "do not delete it; inspect it with `drippay-kiosk journal list --journal \(path)` "
                + "or move it aside and keep it for the audit."
        case .display(let error):
            return "cannot open the display: \(error). Check [display] in the config or the profile."
        case .api(let error):
            return "\(error)"
        case .recovery(let path, let error):
            return "cannot read the open sessions of the journal \(path) for recovery: \(error)"
        case .alreadyRunning(let error):
            return "\(error)"
        }
    }
}

/// Things tests, the demo and the benchmark inject; the defaults are production's.
public struct KioskDaemonOptions: Sendable {
    /// `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`.
    public var environment: [String: String]
    /// Replaces the configured display output (tests: none; the demo: a terminal on a chosen fd).
    public var display: (any DisplayOutput)?
    /// Sees every screen the daemon draws.
    public var onScreen: @Sendable (ScreenIntent) -> Void
    /// Sees every session that ends.
    public var onOutcome: @Sendable (SessionOutcome) -> Void
    /// Sees every screen after the display drew it (the demo's customer scans the pay screen).
    public var onDrawn: @Sendable (Screen) -> Void
    /// `/ping` period while in service and while out of service.
    public var healthInterval: Duration
    public var outOfServiceHealthInterval: Duration
    /// How long shutdown waits for a dispense in flight to be reported.
    public var dispenseDrain: Duration
    /// How often the metrics textfile is rewritten (also after each vend).
    public var metricsInterval: Duration
    /// Serial reopen back-off.
    public var linkBackoff: ControllerLink.Backoff
    /// How long start-up waits for the serial link's first open attempt before going on.
    public var linkSettle: Duration
    /// False only for the benchmark: no client-side request budgets (the server's own limits still apply).
    public var clientRateLimited: Bool
    /// How often a `qibixx-mdb` adapter is asked for its version (liveness).
    public var adapterProbeInterval: Duration

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, display: (any DisplayOutput)? = nil,
        onScreen: @escaping @Sendable (ScreenIntent) -> Void = { _ in },
        onOutcome: @escaping @Sendable (SessionOutcome) -> Void = { _ in },
        onDrawn: @escaping @Sendable (Screen) -> Void = { _ in },
        healthInterval: Duration = .seconds(60), outOfServiceHealthInterval: Duration = .seconds(5),
        dispenseDrain: Duration = .seconds(5), metricsInterval: Duration = .seconds(15),
        linkBackoff: ControllerLink.Backoff = .standard, linkSettle: Duration = .seconds(2),
        clientRateLimited: Bool = true, adapterProbeInterval: Duration = .seconds(30)
    ) {
        self.environment = environment
        self.display = display
        self.onScreen = onScreen
        self.onOutcome = onOutcome
        self.onDrawn = onDrawn
        self.healthInterval = healthInterval
        self.outOfServiceHealthInterval = outOfServiceHealthInterval
        self.dispenseDrain = dispenseDrain
        self.metricsInterval = metricsInterval
        self.linkBackoff = linkBackoff
        self.linkSettle = linkSettle
        self.clientRateLimited = clientRateLimited
        self.adapterProbeInterval = adapterProbeInterval
    }
}
