/// A Qibixx MDB adapter in cashless-slave mode together with the vending machine (VMC) behind
/// it, as the public sources describe them (docs/qibixx-mdb-notes.md): what it answers to each
/// board command, and what it reports when the machine acts. Written from those sources, not
/// from the daemon's codec. Pure: lines in, lines out; the simulator writes them to the pty.
public struct QibixxAdapterModel: Sendable {
    /// What the machine does with the reader.
    public enum Machine: Sendable, Equatable {
        /// Enables the reader after `C,1` (INACTIVE -> DISABLED -> ENABLED).
        case enablesReader
        /// Leaves it disabled (DISABLED after INACTIVE, never ENABLED).
        case keepsReaderDisabled
    }

    public enum Phase: Sendable, Equatable {
        case off
        case inactive, disabled, enabled
        /// A session is open (start-session: after `C,START`), waiting for a selection.
        case idle
        /// The machine asked for `amount` for `product` and waits for the reader.
        case vendRequested(amount: String, product: String)
        /// The reader approved; the machine dispenses and then reports the result.
        case vending(amount: String, product: String)
    }

    public var machine: Machine
    public private(set) var phase: Phase = .off
    /// `C,SETCONF` parameters taken since the last power-on (lost at every power-on).
    public private(set) var configuration: [String: String] = [:]
    /// Parameters this adapter refuses (to test error answers).
    public var refusedParameters: Set<String> = []
    /// Every board line the adapter received, in order.
    public private(set) var received: [String] = []
    /// Whether an `r,ACK` (the VMC polled) follows each answer, as on a real bus.
    public var pollNoise = true

    /// The parameters the api-configuration page and its clients list for the cashless slave.
    public static let knownParameters: Set<String> = [
        "mdb-always-idle", "mdb-currency-code", "mdb-ftl-enabled", "mdb-address", "mdb-addr", "mdb-decimal-places",
        "mdb-scale-factor", "mdb-timeout", "mdb-timeout-idle", "mdb-timeout-vend", "mdb-cashsale-enabled",
        "mdb-restore-funds", "mdb-display-time",
    ]

    public init(machine: Machine = .enablesReader) {
        self.machine = machine
    }

    public var isOn: Bool { phase != .off }
    /// Always-idle unless `mdb-always-idle=0` was set (the adapter's default is unconfirmed;
    /// the model takes always-idle).
    public var alwaysIdle: Bool { configuration["mdb-always-idle"] != "0" }

    private func ack(_ lines: [String]) -> [String] { pollNoise ? lines + ["r,ACK"] : lines }

    // MARK: board -> adapter

    /// The adapter's answer to one board line.
    public mutating func receive(_ line: String) -> [String] {
        received.append(line)
        let fields = line.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        switch fields[0] {
        case "V":
            return ["v,4.1.7,0x2F003E001851"]  // version, CPU id (pyMDBTerminal reads two fields)
        case "C":
            break
        default:
            return []
        }
        guard fields.count >= 2 else { return [] }
        switch (fields[1], fields.count) {
        case ("0", 2):
            phase = .off
            return ["c,0"]  // ln-vending's log: C,0 answered c,0
        case ("1", 2):
            guard phase == .off else { return ["c,ERR,\"cashless is on\""] }
            phase = .inactive
            var lines = ["c,STATUS,INACTIVE", "c,1", "r,ACK", "c,STATUS,DISABLED", "r,ACK", "r,ACK"]
            phase = .disabled
            if machine == .enablesReader {
                lines.append("c,STATUS,ENABLED")
                phase = .enabled
            }
            return ack(lines)
        case ("SETCONF", 3):
            guard phase == .off else { return ["c,ERR,\"SETCONF -3\""] }
            let pair = fields[2].split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, Self.knownParameters.contains(pair[0]), !refusedParameters.contains(pair[0]) else {
                return ["c,ERR,\"SETCONF -2\""]
            }
            configuration[pair[0]] = pair[1]
            return ["c,SET,OK"]
        case ("START", 3):
            guard phase == .enabled else { return ["c,ERR,\"START -3\""] }
            phase = .idle
            return ack(["c,STATUS,IDLE,\(fields[2])"])
        case ("STOP", 2):
            switch phase {
            case .idle, .vendRequested:
                phase = .enabled
                return ack(["c,STATUS,ENABLED"])
            default:
                return ["c,ERR,\"STOP -3\""]
            }
        case ("VEND", 3):
            guard case .vendRequested(let amount, let product) = phase else { return ["c,ERR,\"VEND -3\""] }
            if fields[2] == "-1" || fields[2] == "0" {
                phase = alwaysIdle ? .enabled : .idle
                return ack(alwaysIdle ? ["c,STATUS,ENABLED"] : ["c,STATUS,IDLE"])
            }
            phase = .vending(amount: amount, product: product)
            return ack([])
        case ("DISPLAY", 3):
            return ack([])
        default:
            return ["c,UNKNOWN,\" C\""]
        }
    }

    // MARK: the machine and the customer

    /// The customer picks a product priced `amount` (as the adapter prints it). Nil when the
    /// machine cannot ask now (the reader is not enabled, or no session in start-session).
    public mutating func select(amount: String, product: String) -> [String]? {
        switch phase {
        case .enabled where alwaysIdle, .idle:
            phase = .vendRequested(amount: amount, product: product)
            return ["c,STATUS,VEND,\(amount),\(product)"]
        default:
            return nil
        }
    }

    /// The machine dispensed the approved product.
    public mutating func dispensed() -> [String]? {
        guard case .vending = phase else { return nil }
        phase = .enabled
        return ack(["c,VEND,SUCCESS", "c,STATUS,IDLE", "c,STATUS,ENABLED"])
    }

    /// The approved product did not come out.
    public mutating func failed() -> [String]? {
        guard case .vending = phase else { return nil }
        phase = .enabled
        return ack(["c,ERR,VEND 3", "c,STATUS,IDLE", "c,STATUS,ENABLED"])
    }

    /// The customer cancelled at the machine, or the machine's own timeout ran out.
    public mutating func cancelled() -> [String]? {
        guard case .vendRequested = phase else { return nil }
        phase = .enabled
        return ack(["c,ERR,VEND 1", "c,STATUS,IDLE", "c,STATUS,ENABLED"])
    }

    /// The approved vend ends without a result (the machine closes the session).
    public mutating func endedWithoutResult() -> [String]? {
        guard case .vending = phase else { return nil }
        phase = .enabled
        return ack(["c,STATUS,IDLE", "c,STATUS,ENABLED"])
    }

    /// The adapter power-cycles behind a UART that stays open: configuration and vend are
    /// gone, and it says nothing until `C,1`.
    public mutating func powerCycle() {
        phase = .off
        configuration = [:]
    }

    /// The machine resets the reader (MDB RESET) while the adapter stays on.
    public mutating func machineReset() -> [String] {
        guard phase != .off else { return [] }
        let wasVending: Bool
        switch phase {
        case .vending, .vendRequested: wasVending = true
        default: wasVending = false
        }
        phase = machine == .enablesReader ? .enabled : .disabled
        var lines = wasVending ? ["c,ERR,VEND 5"] : []
        lines += ["c,STATUS,INACTIVE", "r,ACK", "c,STATUS,DISABLED"]
        if machine == .enablesReader { lines.append("c,STATUS,ENABLED") }
        return ack(lines)
    }
}
