import KioskCore

/// The Qibixx MDB adapter (Pi HAT, MDB-USB) in cashless-slave mode. See
/// docs/qibixx-mdb-notes.md for what each mapping rests on.
///
/// MDB has no vend ids, so the codec synthesizes one per vend request with `makeVendID`
/// (the daemon seeds it from the journal and the clock so ids never repeat; tests pass a
/// counter). MDB has one vend at a time, so the codec remembers it:
///
/// | adapter line | event |
/// | --- | --- |
/// | `c,STATUS,ENABLED` / `c,STATUS,IDLE[,funds]` after INACTIVE/DISABLED/start | `.hello(name: "qibixx-mdb", version: "ENABLED" or "IDLE")` |
/// | `c,STATUS,INACTIVE` / `c,STATUS,DISABLED` | `.unavailable(reason:)` |
/// | `c,STATUS,VEND,<amount>,<product>` | `.vendRequested` with a new id |
/// | `c,STATUS,IDLE`/`ENABLED`/`INACTIVE`/`DISABLED` while a vend is pending and not approved | `.vendAborted(id)` first (the machine gave up) |
/// | `c,VEND,SUCCESS` after `C,VEND,<amount>` | `.dispensed(id)` |
/// | `c,ERR,...` after `C,VEND,<amount>` | `.dispenseFailed(id, reason:)` |
/// | back to IDLE/ENABLED after approval with no result | `.dispenseFailed(id, reason: "no vend result ...")` |
/// | `r,ACK`, `c,1`, `c,0`, `d,...`, `D,...` | nothing |
/// | anything else | `.malformed` |
///
/// `.ready` sends `C,1` unless the board already enabled the peripheral on this connection
/// and the machine reports it enabled: answering each hello with another `C,1` could loop.
public struct QibixxMDBCodec: ControllerCodec {
    /// The name `.hello` carries for this protocol.
    public static let controllerName = "qibixx-mdb"
    /// The longest text `C,DISPLAY` takes (Qibixx: "max 32 characters").
    public static let displayLimit = 32

    public let currency: Currency
    private let makeVendID: @Sendable () -> VendID

    /// The adapter's last reported state.
    private enum PeripheralState { case unknown, inactive, disabled, enabled, idle, vend }
    private var state: PeripheralState = .unknown
    /// The vend request the machine is waiting on, and whether the daemon approved it.
    private var pending: VendID?
    private var approved = false
    /// The board sent `C,1` (and no `C,0` since) on this connection.
    private var boardEnabled = false
    /// After `C,STOP` the adapter may answer `c,ERR,...` when no session was left to stop.
    private var stopUnanswered = false

    /// - Parameter makeVendID: a new, never repeated id for each vend request.
    public init(currency: Currency, makeVendID: @escaping @Sendable () -> VendID) {
        self.currency = currency
        self.makeVendID = makeVendID
    }

    /// The vend the machine is waiting on, if any (for logs and tests).
    public var pendingVend: VendID? { pending }

    public var maxLineBytes: Int { 256 }
    public var lineTerminator: String { "\n" }

    // MARK: adapter -> board

    public mutating func decode(_ raw: String) -> [ControllerEvent] {
        let line = trimmed(raw)
        func bad(_ reason: String) -> [ControllerEvent] { [.malformed(line: raw, reason: reason)] }
        let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        switch fields[0] {
        case "r", "d", "D":
            return []  // VMC poll acks and the adapter's master role: noise here
        case "c":
            break
        default:
            return bad("not a cashless-slave line (expected c,... or r,ACK)")
        }
        guard fields.count >= 2 else { return bad("empty cashless-slave line") }
        switch fields[1] {
        case "1", "0":
            return fields.count == 2 ? [] : bad("unexpected fields after c,\(fields[1])")  // echo of C,1 / C,0
        case "STATUS":
            return decodeStatus(Array(fields.dropFirst(2)), raw: raw)
        case "VEND":
            guard fields.count == 3, fields[2] == "SUCCESS" else { return bad("unknown c,VEND line") }
            guard let id = pending, approved else {
                return bad("c,VEND,SUCCESS but no vend was approved")
            }
            clearVend()
            return [.dispensed(id)]
        case "ERR":
            let detail = fields.dropFirst(2).joined(separator: ",")
            if let id = pending, approved {
                clearVend()
                return [.dispenseFailed(id, reason: "adapter reported ERR,\(detail)")]
            }
            if stopUnanswered {
                stopUnanswered = false
                return []  // C,STOP with no session left to stop
            }
            return bad("adapter reported ERR,\(detail)")
        default:
            return bad("unknown cashless-slave message '\(protocolText(fields[1], limit: 32))'")
        }
    }

    private mutating func decodeStatus(_ fields: [String], raw: String) -> [ControllerEvent] {
        func bad(_ reason: String) -> [ControllerEvent] { [.malformed(line: raw, reason: reason)] }
        guard let status = fields.first else { return bad("c,STATUS without a state") }
        let wasReady = state == .enabled || state == .idle || state == .vend
        switch status {
        case "INACTIVE", "DISABLED":
            guard fields.count == 1 else { return bad("unexpected fields after c,STATUS,\(status)") }
            var events = endPendingVend()
            state = status == "INACTIVE" ? .inactive : .disabled
            events.append(
                .unavailable(
                    reason: status == "INACTIVE"
                        ? "the machine has not set up the cashless peripheral yet (MDB INACTIVE)"
                        : "the machine disabled the cashless peripheral (MDB DISABLED)"))
            return events
        case "ENABLED", "IDLE":
            if status == "ENABLED", fields.count != 1 { return bad("unexpected fields after c,STATUS,ENABLED") }
            if status == "IDLE", fields.count > 2 { return bad("c,STATUS,IDLE takes at most one funds field") }
            var events = endPendingVend()
            state = status == "ENABLED" ? .enabled : .idle
            if status == "IDLE" { stopUnanswered = false }
            if !wasReady { events.append(.hello(name: Self.controllerName, version: status)) }
            return events
        case "VEND":
            guard fields.count == 3 else { return bad("vend request must be c,STATUS,VEND,<amount>,<product>") }
            let price: Money
            do {
                price = try Money(parsing: fields[1], currency: currency)
            } catch {
                return bad("vend amount \(error.description) for \(currency.code)")
            }
            guard price.minorUnits > 0 else { return bad("vend amount must be above zero") }
            guard let product = ProductCode(fields[2]) else {
                return bad("'\(protocolText(fields[2], limit: 32))' is not a product code (1-16 of A-Z a-z 0-9 _ -)")
            }
            var events = endPendingVend()
            let id = makeVendID()
            pending = id
            approved = false
            stopUnanswered = false
            state = .vend
            events.append(.vendRequested(VendRequest(id: id, product: product, price: price)))
            return events
        default:
            return bad("unknown adapter state '\(protocolText(status, limit: 32))'")
        }
    }

    /// The machine moved on while a vend was open: before approval it gave up (aborted);
    /// after approval it never said whether the product came out (treated as failed, so a
    /// refund is due rather than money kept for nothing).
    private mutating func endPendingVend() -> [ControllerEvent] {
        guard let id = pending else { return [] }
        let wasApproved = approved
        clearVend()
        if wasApproved {
            return [.dispenseFailed(id, reason: "the machine ended the vend without reporting its result")]
        }
        return [.vendAborted(id)]
    }

    private mutating func clearVend() {
        pending = nil
        approved = false
    }

    private func trimmed(_ line: String) -> String {
        var bytes = Substring(line)
        while let last = bytes.last, last == " " || last == "\t" { bytes.removeLast() }
        return String(bytes)
    }

    /// A reopened device may be a power-cycled adapter: forget its state (not the pending
    /// vend, which the adapter's next status lines settle).
    public mutating func linkDidOpen() {
        state = .unknown
        boardEnabled = false
        stopUnanswered = false
    }

    // MARK: board -> adapter

    public mutating func encode(_ command: ControllerCommand) -> [String] {
        switch command {
        case .ready:
            // Already enabled and the machine reports it ready: a second C,1 could restart
            // the adapter's setup and bring another hello, so the answer to hello would loop.
            if boardEnabled && (state == .enabled || state == .idle || state == .vend) { return [] }
            boardEnabled = true
            return ["C,1"]
        case .outOfService:
            boardEnabled = false
            return ["C,0"]
        case .dispense(let id, let price):
            // Approving anything but the vend the machine waits on would give credit for
            // another product; nothing goes out, and the link reports it as not sent.
            guard id == pending, !approved else { return [] }
            approved = true
            return ["C,VEND,\(price.decimalString)"]
        case .deny(let id, _):
            guard id == pending, !approved else { return [] }
            clearVend()
            stopUnanswered = true
            // C,VEND,-1 denies the requested credit (api-cashless-slave); C,STOP ends the
            // session where one is still open (the always-idle tutorial denies with it).
            return ["C,VEND,-1", "C,STOP"]
        case .displayText(let text):
            let shown = protocolText(text, limit: Self.displayLimit)
            return shown.isEmpty ? [] : ["C,DISPLAY,\(shown)"]
        case .accept, .pong, .error:
            return []
        }
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
