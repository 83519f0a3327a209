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
    private let parameters: [(name: String, value: String)]
    private let makeVendID: @Sendable () -> VendID?

    /// The adapter's last reported state.
    private enum Peripheral { case unknown, inactive, disabled, enabled, idle, vend }
    private var state: Peripheral = .unknown

    /// The vend the machine waits on.
    private struct OpenVend {
        let id: VendID
        let amountText: String
        let price: Money
        var approved = false
        /// `C,VEND,<amount>` went out and no `c,...` line came since (r,ACK does not count).
        var approvalUnanswered = false
    }
    private var vend: OpenVend?

    private enum Setup: Equatable {
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
    private var setup: Setup = .needed
    /// The daemon's last word: takes payments (`.ready`) or not (`.outOfService`).
    private var wantEnabled = false
    /// The board sent `C,1` (and no `C,0` since) on this connection.
    private var boardEnabled = false
    /// After our `C,1` the adapter reports INACTIVE before the machine sets it up.
    private var expectingInactive = false
    /// `.outOfService` arrived while a vend was open: `C,0` goes out when the vend ends.
    private var deferredDisable = false
    /// start-session: `C,START` sent and the session not ended yet.
    private var sessionOpen = false
    /// liveness: `V` sent and no line of any kind since.
    private var probeOutstanding = false
    private var adapterLost = false
    /// liveness: `C,1` sent as a state probe (the reader should be on: the answer is
    /// `c,ERR,"cashless is on"`; `c,1`/INACTIVE mean the adapter restarted and lost its set-up).
    private var stateProbe = false
    /// The adapter answered after going silent: the set-up runs after this line.
    private var setUpAfterLine = false
    private var outgoing: [String] = []

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

    // MARK: adapter -> board

    public mutating func decode(_ raw: String) -> [ControllerEvent] {
        let events = decodeLine(raw)
        if setUpAfterLine {
            // The adapter answered again after going silent: set it up, once nothing is open.
            setUpAfterLine = false
            if vend == nil, setup == .needed || setup == .failed { outgoing += beginSetup() }
        }
        return events
    }

    private mutating func decodeLine(_ raw: String) -> [ControllerEvent] {
        let line = trimmed(raw)
        guard !line.isEmpty else { return [] }
        var events = noteLineSeen()
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        switch fields[0] {
        case "r", "d", "D", "v", "x":
            return events  // VMC poll acks, the master role, the version answer, sniffer lines
        case "c":
            break
        default:
            return events + [.malformed(line: raw, reason: "not a cashless-slave line (expected c,... or r,ACK)")]
        }
        guard fields.count >= 2 else { return events + [.malformed(line: raw, reason: "empty cashless-slave line")] }
        // Only the first c,... line after C,VEND,<amount> can be its answer.
        let answersApproval = vend?.approvalUnanswered ?? false
        vend?.approvalUnanswered = false
        switch fields[1] {
        case "1", "0":
            if fields[1] == "1", setup == .reopenCheck || stateProbe {
                stateProbe = false
                events += adapterRestarted("it answered C,1 with c,1")
            }
            return events
        case "SET":
            return events + setAnswered(fields.count >= 3 && fields[2] == "OK", detail: fields.dropFirst(2).joined(separator: ","), raw: raw)
        case "STATUS":
            return events + decodeStatus(Array(fields.dropFirst(2)), raw: raw)
        case "VEND":
            guard fields.count >= 3, fields[2] == "SUCCESS" else {
                return events + [.malformed(line: raw, reason: "unknown c,VEND line; nothing changes")]
            }
            guard let open = vend, open.approved else {
                return events + [.malformed(line: raw, reason: "c,VEND,SUCCESS but no vend was approved; nothing changes")]
            }
            events += [.dispensed(open.id)]
            endVend()
            return events
        case "ERR":
            return events + decodeError(fields.dropFirst(2).joined(separator: ","), raw: raw, answersApproval: answersApproval)
        default:
            return events + [.malformed(line: raw, reason: "unknown cashless-slave message '\(protocolText(fields[1], limit: 32))'")]
        }
    }

    private mutating func decodeError(_ detail: String, raw: String, answersApproval: Bool = false) -> [ControllerEvent] {
        let text = detail.trimmingQuotes
        func ignored(_ why: String) -> [ControllerEvent] { [.malformed(line: raw, reason: "\(why); nothing changes")] }
        if case .running(let index) = setup, text != "cashless is off" {
            setup = .failed
            let parameter = parameters[min(index, parameters.count - 1)]
            return [
                .setUpRefused(
                    reason: "the MDB adapter refused C,SETCONF,\(parameter.name)=\(parameter.value) (c,ERR,\(detail)); "
                        + "check \(QibixxSettings.configKey(forParameter: parameter.name)) in the config or profile; the reader stays disabled")
            ]
        }
        switch text {
        case "cashless is on":
            if stateProbe {
                stateProbe = false
                return []  // the periodic state probe: still on, still set up
            }
            if setup == .reopenCheck {
                setup = .done  // the adapter kept its state (and its configuration) across the reopen
                return []
            }
            return ignored("the adapter says the reader is already on")
        case "cashless is off":
            return []  // answer to C,0 while already disabled
        case "VEND 3":
            guard let open = vend, open.approved else { return ignored("c,ERR,VEND 3 with no approved vend") }
            endVend()
            return [.dispenseFailed(open.id, reason: "the machine reported the vend failed after approval (c,ERR,VEND 3)")]
        case "VEND 1":
            guard let open = vend else { return ignored("c,ERR,VEND 1 with no open vend") }
            guard !open.approved else {
                return ignored("c,ERR,VEND 1 after approval (the result is still awaited)")
            }
            endVend()
            return [.vendAborted(open.id)]
        case "VEND 5":
            return endOpenVend(reason: "the adapter was reset by the machine (c,ERR,VEND 5) before reporting the result")
        case "VEND -3":
            if let open = vend, open.approved, answersApproval {
                endVend()
                return [.dispenseFailed(open.id, reason: "the adapter refused the approval C,VEND,\(open.amountText) (c,ERR,\"VEND -3\"): nothing was credited")]
            }
            return ignored("c,ERR,\(detail) not answering an approval")
        default:
            return ignored("the adapter reported c,ERR,\(detail)")
        }
    }

    private mutating func decodeStatus(_ fields: [String], raw: String) -> [ControllerEvent] {
        func bad(_ reason: String) -> [ControllerEvent] { [.malformed(line: raw, reason: reason)] }
        guard let status = fields.first else { return bad("c,STATUS without a state") }
        let wasReady = state == .enabled || state == .idle || state == .vend
        switch status {
        case "INACTIVE", "DISABLED":
            var events: [ControllerEvent] = []
            if status == "INACTIVE" {
                if setup == .reopenCheck {
                    events += adapterRestarted("it reported INACTIVE after C,1")
                } else if setup == .done, boardEnabled, !expectingInactive, state != .unknown, state != .inactive {
                    // The adapter (or the machine) restarted behind a link that stayed open.
                    setup = .needed
                    deferredDisable = false
                    events += endOpenVend(reason: "the adapter reported INACTIVE (restarted) before reporting the result")
                    outgoing += beginSetup()
                } else {
                    events += endOpenVend(reason: "the adapter reported INACTIVE before reporting the result")
                }
            } else {
                expectingInactive = false
                events += endOpenVend(reason: "the machine disabled the reader before reporting the result")
            }
            state = status == "INACTIVE" ? .inactive : .disabled
            sessionOpen = false
            events.append(
                .unavailable(
                    reason: status == "INACTIVE"
                        ? "the machine has not set up the cashless reader yet (MDB INACTIVE)"
                        : "the machine disabled the cashless reader (MDB DISABLED)"))
            return events
        case "ENABLED", "IDLE":
            expectingInactive = false
            var events = endOpenVend(reason: "the machine ended the vend without reporting its result")
            state = status == "ENABLED" ? .enabled : .idle
            if status == "IDLE" {
                sessionOpen = true
            } else {
                sessionOpen = false
                if settings.sessionMode == .startSession, setup == .done, wantEnabled, boardEnabled, vend == nil {
                    outgoing.append("C,START,0")
                }
            }
            if !wasReady { events.append(.hello(name: Self.controllerName, version: status)) }
            return events
        case "VEND":
            // What waited for the end of the old vend (a disable) waits for the new one too:
            // never C,0 while the machine waits on a vend.
            var events = endOpenVend(reason: "a new vend request came before the result of the approved one", runDeferred: false)
            state = .vend
            guard setup == .done || setup == .reopenCheck else {
                // Amounts cannot be read with settings the adapter may not have.
                return events + deniedAtOnce(raw, "the adapter is not set up (it restarted or refused a parameter)")
            }
            guard fields.count == 3 else {
                return events + deniedAtOnce(raw, "a vend request is c,STATUS,VEND,<amount>,<product>")
            }
            let price: Money
            do {
                price = try QibixxAmount.price(fields[1], settings: settings, currency: currency)
            } catch {
                return events + deniedAtOnce(raw, "vend amount \(error.description)")
            }
            guard let product = ProductCode(fields[2]) else {
                return events + deniedAtOnce(raw, "'\(protocolText(fields[2], limit: 32))' is not a product code (1-16 of A-Z a-z 0-9 _ -)")
            }
            guard let id = makeVendID() else {
                return events + deniedAtOnce(raw, "no vend id could be reserved in the journal")
            }
            vend = OpenVend(id: id, amountText: fields[1], price: price)
            events.append(.vendRequested(VendRequest(id: id, product: product, price: price)))
            return events
        default:
            return bad("unknown adapter state '\(protocolText(status, limit: 32))'")
        }
    }

    /// A vend request the daemon cannot serve: the machine hears `C,VEND,-1` now instead of
    /// waiting for its own timeout.
    private mutating func deniedAtOnce(_ raw: String, _ reason: String) -> [ControllerEvent] {
        outgoing.append("C,VEND,-1")
        outgoing += afterVend()
        return [.malformed(line: raw, reason: "\(reason); denied at once with C,VEND,-1")]
    }

    private mutating func setAnswered(_ ok: Bool, detail: String, raw: String) -> [ControllerEvent] {
        guard case .running(let index) = setup else {
            return ok ? [] : [.malformed(line: raw, reason: "unknown c,SET answer; nothing changes")]
        }
        guard ok else { return decodeError(detail, raw: raw) }
        if index + 1 < parameters.count {
            setup = .running(index: index + 1)
            outgoing.append(setconf(index + 1))
        } else {
            outgoing += finishSetup()
            return [.setUpDone]
        }
        return []
    }

    /// The adapter lost its state while the link stayed open (or across a reopen): the open
    /// vend is over, and the set-up runs again.
    private mutating func adapterRestarted(_ how: String) -> [ControllerEvent] {
        setup = .needed  // first: the end of the vend must not start a second set-up
        deferredDisable = false
        let events = endOpenVend(reason: "the adapter restarted (\(how)) before reporting the result")
        outgoing += beginSetup()
        return events
    }

    /// Ends the open vend because the machine or adapter moved on: before approval the machine
    /// gave up; after it the outcome is unknown (never a refund by itself).
    private mutating func endOpenVend(reason: String, runDeferred: Bool = true) -> [ControllerEvent] {
        guard let open = vend else { return [] }
        if runDeferred { endVend() } else { vend = nil }
        return open.approved ? [.dispenseUnknown(open.id, reason: reason)] : [.vendAborted(open.id)]
    }

    private mutating func endVend() {
        vend = nil
        outgoing += afterVend()
    }

    /// What waited for the end of a vend: the disable, or the set-up.
    private mutating func afterVend() -> [String] {
        if deferredDisable {
            deferredDisable = false
            return disableLines()
        }
        if setup == .reopenCheck {
            setup = .needed
            return beginSetup()
        }
        return []
    }

    /// Any line shows the adapter is alive; one after it went silent means it came back.
    private mutating func noteLineSeen() -> [ControllerEvent] {
        probeOutstanding = false
        guard adapterLost else { return [] }
        adapterLost = false
        setUpAfterLine = true
        return []
    }

    private func trimmed(_ line: String) -> String {
        var bytes = Substring(line)
        while let last = bytes.last, last == " " || last == "\t" || last == "\r" { bytes.removeLast() }
        return String(bytes)
    }

    // MARK: set-up

    private func setconf(_ index: Int) -> String {
        "C,SETCONF,\(parameters[index].name)=\(parameters[index].value)"
    }

    private mutating func beginSetup() -> [String] {
        boardEnabled = false
        stateProbe = false
        sessionOpen = false
        guard !parameters.isEmpty else { return ["C,0"] + finishSetup() }
        setup = .running(index: 0)
        return ["C,0", setconf(0)]
    }

    private mutating func finishSetup() -> [String] {
        setup = .done
        guard wantEnabled else { return [] }
        boardEnabled = true
        expectingInactive = true
        return ["C,1"]
    }

    private mutating func disableLines() -> [String] {
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

    // MARK: board -> adapter

    public mutating func encode(_ command: ControllerCommand) -> [String] {
        switch command {
        case .ready:
            wantEnabled = true
            deferredDisable = false
            switch setup {
            case .needed, .failed:
                return vend == nil ? beginSetup() : []
            case .running:
                return []  // ends with C,1 now
            case .reopenCheck:
                boardEnabled = true
                return ["C,1"]
            case .done:
                // Already on: a second C,1 only earns c,ERR,"cashless is on"; the machine
                // decides when it enables the reader.
                if boardEnabled { return [] }
                if vend != nil {
                    // A vend is open, so the adapter is on: C,0 would drop it.
                    boardEnabled = true
                    return ["C,1"]
                }
                // Off (out of service): an adapter that power-cycled meanwhile is quiet and has
                // lost its set-up, so coming back runs the whole set-up.
                return beginSetup()
            }
        case .outOfService:
            wantEnabled = false
            if vend != nil {
                deferredDisable = true  // never C,0 while a vend is open: the machine would drop it
                return []
            }
            switch setup {
            case .needed, .failed: return beginSetup()
            case .running: return []
            case .reopenCheck, .done: return disableLines()
            }
        case .dispense(let id, let price):
            // Approving anything but the vend the machine waits on, or another amount, would
            // give credit for something else; nothing goes out, and the link reports it.
            guard var open = vend, open.id == id, !open.approved, open.price == price else { return [] }
            open.approved = true
            open.approvalUnanswered = true
            vend = open
            return ["C,VEND,\(open.amountText)"]
        case .deny(let id, _):
            guard let open = vend, open.id == id, !open.approved else { return [] }
            vend = nil
            // C,VEND,-1 denies the requested credit (api-cashless-slave); C,STOP ends the
            // session (the always-idle tutorial denies with it). One of them answers
            // c,ERR,"... -3", which is logged and changes nothing.
            return ["C,VEND,-1", "C,STOP"] + afterVend()
        case .displayText(let text):
            let shown = protocolText(text, limit: Self.displayLimit, replacingCommas: true)
            return shown.isEmpty ? [] : ["C,DISPLAY,\(shown)"]
        case .accept, .pong, .error:
            return []
        }
    }
}

extension String {
    fileprivate var trimmingQuotes: String {
        var text = Substring(self)
        while text.first == "\"" || text.first == " " { text.removeFirst() }
        while text.last == "\"" || text.last == " " { text.removeLast() }
        return String(text)
    }
}

/// The adapter's side of the Qibixx cashless-slave protocol, for simulators and tests.
public enum QibixxMDBMachineSide {
    /// The board's line read back as a command, as far as MDB can say it: `C,VEND,<amount>`
    /// carries no id (`id` fills it in), `C,VEND,-1` comes back as `deny(id, .error)`.
    public static func command(from line: String, currency: Currency, id: VendID) -> ControllerCommand? {
        let fields = line.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch (fields[0], fields.count) {
        case ("C", 2) where fields[1] == "1": return .ready
        case ("C", 2) where fields[1] == "0": return .outOfService(reason: "")
        case ("C", 3) where fields[1] == "VEND":
            if fields[2] == "-1" { return .deny(id, .error) }
            return (try? Money(parsing: fields[2], currency: currency)).map { .dispense(id, price: $0) }
        case ("C", 3) where fields[1] == "DISPLAY": return .displayText(fields[2])
        default: return nil
        }
    }
}
