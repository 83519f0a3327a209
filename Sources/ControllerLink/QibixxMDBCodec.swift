import KioskCore

/// The Qibixx MDB adapter (Pi HAT, MDB-USB) in cashless-slave mode. docs/qibixx-mdb-notes.md
/// says which source each mapping rests on and what is still unconfirmed.
///
/// Pure and stateful: lines in, events and lines out, no I/O and no clock (the link calls
/// `tick()` every `tickInterval`). MDB has one vend at a time and no vend ids, so the codec
/// keeps the vend the machine waits on and names it with `makeVendID` (the daemon draws ids
/// from a durable counter in the journal).
///
/// Set-up, on every (re)open and after the adapter restarted: `C,0`, then one
/// `C,SETCONF,<parameter>=<value>` per setting, each sent after the previous one was answered
/// `c,SET,OK`, then `C,1` when the daemon takes payments. An error answer stops the set-up
/// (the reader stays disabled) and is reported as `.setUpRefused` naming the parameter and its
/// config key. The set-up never runs while a vend is open; neither does `C,0`: both wait for
/// the end of the vend.
///
/// | adapter line | event |
/// | --- | --- |
/// | `c,STATUS,ENABLED` / `IDLE[,funds]` from INACTIVE/DISABLED/unknown | `.hello` |
/// | `c,STATUS,INACTIVE` / `DISABLED` | `.unavailable` (an unsolicited INACTIVE also re-runs the set-up) |
/// | `c,STATUS,VEND,<amount>,<product>` | `.vendRequested`; one the daemon cannot serve is denied at once (`C,VEND,-1`) |
/// | `c,VEND,SUCCESS[,...]` after approval | `.dispensed` |
/// | `c,ERR,VEND 3` after approval | `.dispenseFailed` (refund due) |
/// | `c,ERR,"VEND -3"` answering our `C,VEND,<amount>` | `.dispenseFailed` (nothing was credited) |
/// | `c,ERR,VEND 1` before approval | `.vendAborted` (the machine cancelled) |
/// | `c,ERR,VEND 5`, a status, a restart or silence ending an approved vend | `.dispenseUnknown` |
/// | the same ending a vend not approved | `.vendAborted` |
/// | any other `c,ERR,...` | `.malformed` (logged; nothing changes) |
/// | `r,ACK`, `c,1`, `c,0`, `c,SET,OK`, `v,...`, `d,...`, `D,...` | nothing |
public struct QibixxMDBCodec: ControllerCodec {
    /// The name `.hello` carries for this protocol.
    public static let controllerName = "qibixx-mdb"
    /// The longest text `C,DISPLAY` takes (Qibixx: "max 32 characters").
    public static let displayLimit = 32
    /// The harmless query whose answer shows the adapter is alive (firmware version).
    public static let probeCommand = "V"

    public let currency: Currency
    public let settings: QibixxSettings
    public let tickInterval: Duration?
    let parameters: [(name: String, value: String)]
    let makeVendID: @Sendable () -> VendID?

    /// The adapter's last reported state.
    enum Peripheral { case unknown, inactive, disabled, enabled, idle, vend }
    var state: Peripheral = .unknown

    /// The vend the machine waits on.
    struct OpenVend {
        let id: VendID
        let amountText: String
        let price: Money
        var approved = false
        /// `C,VEND,<amount>` went out and no `c,...` line came since (r,ACK does not count).
        var approvalUnanswered = false
    }
    var vend: OpenVend?

    enum Setup: Equatable {
        case needed
        /// `C,0` and the parameters up to `index` sent; waiting for `c,SET,OK` for `index`.
        case running(index: Int)
        case done
        /// A parameter was refused; retried at the next `.ready`/`.outOfService` or reopen.
        case failed
        /// Reopened while a vend was open: `C,1` tells whether the adapter kept its state
        /// (`c,ERR,"cashless is on"`) or restarted (`c,1`, `c,STATUS,INACTIVE`).
        case reopenCheck
    }
    var setup: Setup = .needed
    /// The daemon's last word: takes payments (`.ready`) or not (`.outOfService`).
    var wantEnabled = false
    /// The board sent `C,1` (and no `C,0` since) on this connection.
    var boardEnabled = false
    /// After our `C,1` the adapter reports INACTIVE before the machine sets it up.
    var expectingInactive = false
    /// `.outOfService` arrived while a vend was open: `C,0` goes out when the vend ends.
    var deferredDisable = false
    /// start-session: `C,START` sent and the session not ended yet.
    var sessionOpen = false
    /// liveness: `V` sent and no line of any kind since.
    var probeOutstanding = false
    var adapterLost = false
    /// liveness: `C,1` sent as a state probe (the reader should be on: the answer is
    /// `c,ERR,"cashless is on"`; `c,1`/INACTIVE mean the adapter restarted and lost its set-up).
    var stateProbe = false
    /// The adapter answered after going silent: the set-up runs after this line.
    var setUpAfterLine = false
    var outgoing: [String] = []

    /// - Parameters:
    ///   - makeVendID: a new, never repeated id for each vend request (nil when none can be
    ///     made: the request is denied).
    ///   - tickInterval: how often the link calls `tick()` (the liveness probe); nil: never.
    public init(
        currency: Currency, settings: QibixxSettings? = nil, tickInterval: Duration? = .seconds(30),
        makeVendID: @escaping @Sendable () -> VendID?
    ) {
        self.currency = currency
        let settings = settings ?? .defaults(for: currency)
        self.settings = settings
        self.parameters = settings.parameters(currency: currency) ?? []
        self.tickInterval = tickInterval
        self.makeVendID = makeVendID
    }

    /// The vend the machine is waiting on, if any (for logs and tests).
    public var pendingVend: VendID? { vend?.id }
    /// Whether the set-up finished on this connection.
    public var isSetUp: Bool { setup == .done }

    public var maxLineBytes: Int { 256 }
    public var lineTerminator: String { "\n" }

    public mutating func takeOutgoing() -> [String] {
        defer { outgoing = [] }
        return outgoing
    }

    // MARK: set-up

    func setconf(_ index: Int) -> String {
        "C,SETCONF,\(parameters[index].name)=\(parameters[index].value)"
    }

    mutating func beginSetup() -> [String] {
        boardEnabled = false
        stateProbe = false
        sessionOpen = false
        guard !parameters.isEmpty else { return ["C,0"] + finishSetup() }
        setup = .running(index: 0)
        return ["C,0", setconf(0)]
    }

    mutating func finishSetup() -> [String] {
        setup = .done
        guard wantEnabled else { return [] }
        boardEnabled = true
        expectingInactive = true
        return ["C,1"]
    }

    mutating func disableLines() -> [String] {
        boardEnabled = false
        expectingInactive = false
        if sessionOpen {
            sessionOpen = false
            return ["C,STOP", "C,0"]
        }
        return ["C,0"]
    }

    /// A reopened device may be a power-cycled adapter: forget what it reported. With a vend
    /// open the set-up waits (`C,0` would drop the vend): `.ready` first sends only `C,1`, and
    /// the answer tells whether the adapter kept its state.
    public mutating func linkDidOpen() {
        state = .unknown
        boardEnabled = false
        expectingInactive = false
        probeOutstanding = false
        adapterLost = false
        deferredDisable = false
        stateProbe = false
        outgoing = []
        setup = vend == nil ? .needed : .reopenCheck
    }

    // MARK: liveness

    /// Called every `tickInterval`: sends the version query (and, with the reader on and no
    /// vend open, `C,1` as a state probe); a query left unanswered (no line at all since) means
    /// the adapter went away (a silent reboot): the open vend ends, and the set-up runs when
    /// the adapter answers again.
    public mutating func tick() -> [ControllerEvent] {
        var events: [ControllerEvent] = []
        if probeOutstanding, !adapterLost {
            adapterLost = true
            setup = .needed
            deferredDisable = false
            events += endOpenVend(reason: "the adapter stopped answering before reporting the result")
            state = .unknown
            boardEnabled = false
            deferredDisable = false
            outgoing = []
            events.append(
                .unavailable(
                    reason: "the MDB adapter stopped answering (no line since the last \(Self.probeCommand) query); "
                        + "it is set up again when it answers; check its power and cable if this persists"))
        }
        probeOutstanding = true
        outgoing.append(Self.probeCommand)
        // An adapter that power-cycled quickly answers V again but has lost its set-up and is
        // off: C,1 while it should be on tells (never while a vend is open).
        if setup == .done, boardEnabled, vend == nil, !adapterLost {
            stateProbe = true
            outgoing.append("C,1")
        }
        return events
    }
}
