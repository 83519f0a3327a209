import KioskCore

/// The Qibixx MDB adapter (Pi HAT, MDB-USB) in cashless-slave mode. docs/qibixx-mdb-notes.md
/// says which source each mapping rests on and what is still unconfirmed.
///
/// Pure and stateful: lines in, events and lines out, no I/O and no clock (the link calls
/// `tick()` every `tickInterval`). Each line is first read into an `AdapterLine` (no state), then
/// applied to the protocol state, which is one value: `phase` (set-up, idle, a vend requested,
/// approved, ...). MDB has one vend at a time and no vend ids: a decoded request waits in
/// `.numbering` for the id the caller hands in (`awaitsVendID`, `handIn(vendID:)`;
/// `VendNumbering` does it after every line with the daemon's durable counter).
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

    /// Where the board and the adapter are, as far as the board knows.
    enum Phase: Equatable {
        /// Not set up on this connection: just (re)opened with no vend open, or the adapter
        /// restarted, went silent or refused a parameter. The set-up runs at the next
        /// `.ready`/`.outOfService`, or when a silent adapter answers again.
        case setUpNeeded
        /// `C,0` and the parameters up to `step` sent; waiting for `c,SET,OK` for `step`.
        case settingUp(step: Int)
        /// Set up, no vend open.
        case idle(Reader)
        /// A vend request read, waiting for the id the caller hands in (`handIn(vendID:)`).
        case numbering(VendDraft)
        /// The machine waits for the board's answer to this vend.
        case vendRequested(OpenVend)
        /// `C,VEND,<amount>` went out; the machine's result is awaited. `answered`: a `c,...`
        /// line came since (only the first one can be the approval's own answer).
        case vendApproved(OpenVend, answered: Bool)
    }

    /// The board's side of the reader once set up.
    enum Reader: Equatable {
        /// `C,0` sent, or no `C,1` yet on this connection.
        case off
        /// The set-up's `C,1` sent: the adapter reports INACTIVE until the machine sets it up
        /// (DISABLED, ENABLED or IDLE ends this).
        case enabling
        /// `C,1` sent and no `C,0` since.
        case on
    }

    /// What a vend carries besides its request: the reader, and what waits for its end.
    struct VendContext: Equatable {
        var reader: Reader
        /// `.outOfService` came while the vend was open: `C,0` goes out when it ends.
        var disableAfter = false
    }

    /// Whether the adapter is known to hold the set-up. Reopened with a vend open, it may have
    /// restarted: `C,1` (at `.ready`) asks; `c,ERR,"cashless is on"` means it kept its state,
    /// `c,1` or INACTIVE that it restarted. Unchecked when the vend ends, the set-up runs (or,
    /// with a disable waiting, only `C,0`, and the question stays open).
    enum AdapterCheck { case known, unchecked }

    /// A vend request read and checked, before it has an id.
    struct VendDraft: Equatable {
        let raw: String
        let amountText: String
        let price: Money
        let product: ProductCode
        let context: VendContext
    }

    /// The vend the machine waits on.
    struct OpenVend: Equatable {
        let id: VendID
        let amountText: String
        let price: Money
        var context: VendContext
    }

    /// The adapter's last reported state (its own, not the board's).
    enum Reported { case unknown, inactive, disabled, enabled, idle, vend }

    /// Whether the liveness probe (`V`) was answered.
    enum Liveness {
        /// A line came since the last probe.
        case answering
        /// `V` sent, no line of any kind since.
        case probed
        /// A whole tick passed without a line: the adapter went away; the set-up runs when
        /// it answers again.
        case lost
    }

    var phase: Phase = .setUpNeeded
    /// Meaningful while idle or with a vend open (the set-up makes it `.known`).
    var adapterCheck: AdapterCheck = .known
    var reported: Reported = .unknown
    /// The adapter reported IDLE (a session is open) and no `C,STOP`/`C,0`/set-up since:
    /// `C,STOP` goes before `C,0`.
    var sessionOpen = false
    var liveness: Liveness = .answering
    /// `tick()` sent `C,1` as a state probe, not answered yet: `c,ERR,"cashless is on"` means
    /// still set up, `c,1` that the adapter restarted and lost its set-up.
    var stateProbe = false
    /// The daemon's last word: takes payments (`.ready`) or not (`.outOfService`).
    var takesPayments = false
    var outgoing: [String] = []

    /// - Parameters:
    ///   - tickInterval: how often the link calls `tick()` (the liveness probe); nil: never.
    public init(currency: Currency, settings: QibixxSettings? = nil, tickInterval: Duration? = .seconds(30)) {
        self.currency = currency
        let settings = settings ?? .defaults(for: currency)
        self.settings = settings
        self.parameters = settings.parameters(currency: currency) ?? []
        self.tickInterval = tickInterval
    }

    /// The vend the machine is waiting on, if any (for logs and tests).
    public var pendingVend: VendID? { openVend?.id }
    /// Whether the set-up finished on this connection (and, with a vend open across a reopen,
    /// the adapter showed it kept it).
    public var isSetUp: Bool {
        switch phase {
        case .idle, .vendRequested, .vendApproved: adapterCheck == .known
        case .setUpNeeded, .settingUp, .numbering: false
        }
    }

    public var maxLineBytes: Int { 256 }
    public var lineTerminator: String { "\n" }

    public mutating func takeOutgoing() -> [String] {
        defer { outgoing = [] }
        return outgoing
    }

    // MARK: the state's parts

    var openVend: OpenVend? {
        switch phase {
        case .vendRequested(let vend), .vendApproved(let vend, _): vend
        case .setUpNeeded, .settingUp, .idle, .numbering: nil
        }
    }

    /// Changes the open vend, keeping its phase (requested or approved).
    mutating func updateOpenVend(_ change: (inout OpenVend) -> Void) {
        switch phase {
        case .vendRequested(var vend):
            change(&vend)
            phase = .vendRequested(vend)
        case .vendApproved(var vend, let answered):
            change(&vend)
            phase = .vendApproved(vend, answered: answered)
        case .setUpNeeded, .settingUp, .idle, .numbering:
            break
        }
    }

    /// The reader once set up (idle or with a vend open); nil before.
    var reader: Reader? {
        switch phase {
        case .idle(let reader): reader
        case .vendRequested(let vend), .vendApproved(let vend, _): vend.context.reader
        case .setUpNeeded, .settingUp, .numbering: nil
        }
    }

    /// The adapter reported DISABLED, ENABLED or IDLE: the INACTIVE after the set-up is over.
    mutating func readerSetUpByTheMachine() {
        switch phase {
        case .idle(.enabling): phase = .idle(.on)
        case .vendRequested, .vendApproved:
            updateOpenVend { if $0.context.reader == .enabling { $0.context.reader = .on } }
        case .setUpNeeded, .settingUp, .idle(.off), .idle(.on), .numbering: break
        }
    }

    // MARK: set-up

    func setconf(_ index: Int) -> String {
        "C,SETCONF,\(parameters[index].name)=\(parameters[index].value)"
    }

    /// Only with no vend open.
    mutating func beginSetup() -> [String] {
        adapterCheck = .known
        stateProbe = false
        sessionOpen = false
        guard !parameters.isEmpty else { return ["C,0"] + finishSetup() }
        phase = .settingUp(step: 0)
        return ["C,0", setconf(0)]
    }

    mutating func finishSetup() -> [String] {
        guard takesPayments else {
            phase = .idle(.off)
            return []
        }
        phase = .idle(.enabling)
        return ["C,1"]
    }

    mutating func disableLines() -> [String] {
        phase = .idle(.off)
        guard sessionOpen else { return ["C,0"] }
        sessionOpen = false
        return ["C,STOP", "C,0"]
    }

    /// A reopened device may be a power-cycled adapter: forget what it reported. With a vend
    /// open the set-up waits (`C,0` would drop the vend): `.ready` first sends only `C,1`, and
    /// the answer tells whether the adapter kept its state.
    public mutating func linkDidOpen() {
        denyUnnumbered()
        reported = .unknown
        liveness = .answering
        stateProbe = false
        outgoing = []
        guard openVend != nil else {
            phase = .setUpNeeded
            adapterCheck = .known
            return
        }
        adapterCheck = .unchecked
        updateOpenVend { $0.context = VendContext(reader: .off) }
    }

    // MARK: liveness

    /// Called every `tickInterval`: sends the version query (and, with the reader on and no
    /// vend open, `C,1` as a state probe); a query left unanswered (no line at all since) means
    /// the adapter went away (a silent reboot): the open vend ends, and the set-up runs when
    /// the adapter answers again.
    public mutating func tick() -> [ControllerEvent] {
        denyUnnumbered()
        var events: [ControllerEvent] = []
        if liveness == .probed {
            liveness = .lost
            events += abandonOpenVend(reason: "the adapter stopped answering before reporting the result")
            phase = .setUpNeeded
            adapterCheck = .known  // nothing to check: the set-up runs when it answers
            reported = .unknown
            outgoing = []
            events.append(
                .unavailable(
                    reason: "the MDB adapter stopped answering (no line since the last \(Self.probeCommand) query); "
                        + "it is set up again when it answers; check its power and cable if this persists"))
        }
        if liveness == .answering { liveness = .probed }
        outgoing.append(Self.probeCommand)
        // An adapter that power-cycled quickly answers V again but has lost its set-up and is
        // off: C,1 while it should be on tells (never while a vend is open).
        if liveness != .lost, case .idle(let reader) = phase, reader != .off, adapterCheck == .known {
            stateProbe = true
            outgoing.append("C,1")
        }
        return events
    }
}
