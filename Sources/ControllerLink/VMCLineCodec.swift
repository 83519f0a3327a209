import KioskCore

/// The project's own `vmc-line` protocol, exactly as docs/vmc-line.md states it.
///
/// Strict on input: single spaces between fields, keywords in upper case, ids and product
/// codes of `[A-Za-z0-9_-]`, prices in major units with at most the currency's minor digits.
/// Anything else decodes to `.malformed(line:reason:)` whose reason the daemon sends back as
/// `ERROR <reason>`. `HELLO` names and versions are 1-32 of `[A-Za-z0-9_.-]`.
public struct VMCLineCodec: ControllerCodec {
    public let currency: Currency

    public init(currency: Currency) {
        self.currency = currency
    }

    public var maxLineBytes: Int { 256 }
    public var lineTerminator: String { "\n" }

    // MARK: controller -> kiosk

    public mutating func decode(_ line: String) -> [ControllerEvent] {
        [parse(line)]
    }

    private func parse(_ line: String) -> ControllerEvent {
        func bad(_ reason: String) -> ControllerEvent { .malformed(line: line, reason: reason) }
        guard line.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            return bad("only printable ASCII is allowed")
        }
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard !fields.contains(where: \.isEmpty) else {
            return bad("fields must be separated by single spaces, with none at the start or end")
        }
        let keyword = fields[0]
        let arguments = Array(fields.dropFirst())
        func expect(_ count: Int, _ usage: String) -> String? {
            arguments.count == count ? nil : "\(keyword) takes \(count) field\(count == 1 ? "" : "s"): \(usage)"
        }
        func vendID(_ text: String) -> VendID? { VendID(text) }
        let badID = { (text: String) in bad("'\(text)' is not a vend id (1-32 of A-Z a-z 0-9 _ -)") }

        switch keyword {
        case "HELLO":
            if let usage = expect(2, "HELLO <name> <version>") { return bad(usage) }
            for (what, value) in [("name", arguments[0]), ("version", arguments[1])] where !isHelloToken(value) {
                return bad("'\(value)' is not a controller \(what) (1-32 of A-Z a-z 0-9 _ . -)")
            }
            return .hello(name: arguments[0], version: arguments[1])
        case "VEND":
            if let usage = expect(3, "VEND <id> <product> <price>") { return bad(usage) }
            guard let id = vendID(arguments[0]) else { return badID(arguments[0]) }
            guard let product = ProductCode(arguments[1]) else {
                return bad("'\(arguments[1])' is not a product code (1-16 of A-Z a-z 0-9 _ -)")
            }
            let price: Money
            do {
                price = try Money(parsing: arguments[2], currency: currency)
            } catch {
                return bad("price \(error.description) for \(currency.code)")
            }
            guard price.minorUnits > 0 else { return bad("price must be above zero") }
            return .vendRequested(VendRequest(id: id, product: product, price: price))
        case "ABORT", "DISPENSED":
            if let usage = expect(1, "\(keyword) <id>") { return bad(usage) }
            guard let id = vendID(arguments[0]) else { return badID(arguments[0]) }
            return keyword == "ABORT" ? .vendAborted(id) : .dispensed(id)
        case "FAILED":
            guard arguments.count >= 2 else { return bad("FAILED takes an id and a reason: FAILED <id> <reason...>") }
            guard let id = vendID(arguments[0]) else { return badID(arguments[0]) }
            return .dispenseFailed(id, reason: arguments.dropFirst().joined(separator: " "))
        case "PING":
            if let usage = expect(0, "PING") { return bad(usage) }
            return .ping
        default:
            let known = "HELLO, VEND, ABORT, DISPENSED, FAILED, PING"
            return bad("unknown command '\(protocolText(keyword, limit: 32))' (expected one of \(known))")
        }
    }

    private func isHelloToken(_ text: String) -> Bool {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= 32 else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x5F || b == 0x2D || b == 0x2E
        }
    }

    // MARK: kiosk -> controller

    public mutating func encode(_ command: ControllerCommand) -> [String] {
        switch command {
        case .ready: return ["READY"]
        case .outOfService(let reason):
            return ["OUT-OF-SERVICE " + Self.freeText(reason, fallback: "unavailable", room: 256 - 15)]
        case .accept(let id): return ["ACCEPT \(id)"]
        case .dispense(let id, _): return ["DISPENSE \(id)"]
        case .deny(let id, let reason): return ["DENY \(id) \(reason.rawValue)"]
        case .error(let message):
            return ["ERROR " + Self.freeText(message, fallback: "unreadable line", room: 256 - 6)]
        case .pong: return ["PONG"]
        case .displayText: return []
        }
    }

    /// Free text at the end of a line: printable ASCII, single spaces, never empty, and short
    /// enough that the whole line stays within the protocol's 256 bytes.
    static func freeText(_ text: String, fallback: String, room: Int) -> String {
        let cleaned = protocolText(text, limit: room)
        return cleaned.isEmpty ? fallback : cleaned
    }
}

/// The controller's side of vmc-line, for simulators and tests: events as the controller
/// writes them, and the daemon's lines read back as commands.
public enum VMCLineMachineSide {
    /// The line a controller sends for an event, or nil for events vmc-line cannot carry
    /// (`unavailable`, `malformed`).
    public static func line(for event: ControllerEvent) -> String? {
        switch event {
        case .hello(let name, let version): return "HELLO \(name) \(version)"
        case .vendRequested(let request):
            return "VEND \(request.id) \(request.product) \(request.price.decimalString)"
        case .vendAborted(let id): return "ABORT \(id)"
        case .dispensed(let id): return "DISPENSED \(id)"
        case .dispenseFailed(let id, let reason): return "FAILED \(id) \(reason)"
        case .ping: return "PING"
        case .unavailable, .malformed, .dispenseUnknown, .setUpRefused, .setUpDone: return nil
        }
    }

    /// A daemon line read back as a command. `dispense` carries no price on the wire, so it
    /// comes back with `price` (zero in the given currency unless told).
    public static func command(from line: String, currency: Currency, price: Money? = nil) -> ControllerCommand? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard let keyword = fields.first else { return nil }
        let rest = fields.dropFirst().joined(separator: " ")
        switch (keyword, fields.count) {
        case ("READY", 1): return .ready
        case ("PONG", 1): return .pong
        case ("OUT-OF-SERVICE", 2...): return .outOfService(reason: rest)
        case ("ERROR", 2...): return .error(message: rest)
        case ("ACCEPT", 2): return VendID(fields[1]).map { .accept($0) }
        case ("DISPENSE", 2):
            return VendID(fields[1]).map { .dispense($0, price: price ?? Money(minorUnits: 0, currency: currency)) }
        case ("DENY", 3):
            guard let id = VendID(fields[1]), let reason = DenyReason(rawValue: fields[2]) else { return nil }
            return .deny(id, reason)
        default: return nil
        }
    }
}
