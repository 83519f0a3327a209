import KioskCore

extension QibixxMDBCodec {
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
