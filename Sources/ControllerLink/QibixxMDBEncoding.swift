import KioskCore

extension QibixxMDBCodec {
    // MARK: board -> adapter

    public mutating func encode(_ command: ControllerCommand) -> [String] {
        denyUnnumbered()
        switch command {
        case .ready:
            takesPayments = true
            switch phase {
            case .setUpNeeded:
                return beginSetup()
            case .settingUp, .numbering:
                return []  // ends with C,1 now
            case .idle(let reader) where adapterCheck == .unchecked:
                // Reopened, the vend ended under a disable: C,1 asks whether the adapter kept
                // its state (c,ERR,"cashless is on") or restarted (c,1, INACTIVE: the set-up).
                phase = .idle(reader == .off ? .on : reader)
                return ["C,1"]
            case .idle(.on), .idle(.enabling):
                // Already on: a second C,1 only earns c,ERR,"cashless is on"; the machine
                // decides when it enables the reader.
                return []
            case .idle(.off):
                // Off (out of service): an adapter that power-cycled meanwhile is quiet and has
                // lost its set-up, so coming back runs the whole set-up.
                return beginSetup()
            case .vendRequested(let vend), .vendApproved(let vend, _):
                // A vend is open, so the adapter is on (C,0 would drop the vend). After a reopen
                // C,1 also asks whether the adapter kept its state.
                let sendsC1 = vend.context.reader == .off || adapterCheck == .unchecked
                updateOpenVend {
                    $0.context.disableAfter = false
                    if $0.context.reader == .off { $0.context.reader = .on }
                }
                return sendsC1 ? ["C,1"] : []
            }
        case .outOfService:
            takesPayments = false
            switch phase {
            case .vendRequested, .vendApproved:
                // Never C,0 while a vend is open: the machine would drop it.
                updateOpenVend { $0.context.disableAfter = true }
                return []
            case .setUpNeeded: return beginSetup()
            case .settingUp, .numbering: return []
            case .idle: return disableLines()
            }
        case .dispense(let id, let price):
            // Approving anything but the vend the machine waits on, or another amount, would
            // give credit for something else; nothing goes out, and the link reports it.
            guard case .vendRequested(let vend) = phase, vend.id == id, vend.price == price else { return [] }
            phase = .vendApproved(vend, answered: false)
            return ["C,VEND,\(vend.amountText)"]
        case .deny(let id, _):
            guard case .vendRequested(let vend) = phase, vend.id == id else { return [] }
            // C,VEND,-1 denies the requested credit (api-cashless-slave); C,STOP ends the
            // session (the always-idle tutorial denies with it). One of them answers
            // c,ERR,"... -3", which is logged and changes nothing.
            return ["C,VEND,-1", "C,STOP"] + afterVend(vend.context)
        case .displayText(let text):
            let shown = protocolText(text, limit: Self.displayLimit, replacingCommas: true)
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
