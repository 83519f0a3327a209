import KioskCore

/// Translates between one controller protocol's text lines and the protocol-independent
/// `ControllerEvent` / `ControllerCommand`. Pure and stateful (MDB has to remember the vend
/// in progress); no I/O. Lines carry no terminator: the link frames and terminates them.
public protocol ControllerCodec: Sendable {
    /// The events one line from the controller means (none for noise such as MDB `r,ACK`).
    mutating func decode(_ line: String) -> [ControllerEvent]
    /// The lines that carry a command to the controller (none when the protocol has no way
    /// to say it, e.g. `displayText` in vmc-line).
    mutating func encode(_ command: ControllerCommand) -> [String]
    /// The longest line the link accepts from this controller, terminator excluded.
    var maxLineBytes: Int { get }
    /// What the link appends to every line it writes.
    var lineTerminator: String { get }
    /// The device was (re)opened: whatever the controller's side remembered may be gone
    /// (a re-plugged adapter starts from scratch).
    mutating func linkDidOpen()
    /// Lines the codec wants written on its own (after a `decode` or `tick`): MDB set-up
    /// steps, an immediate deny, a disable that waited for the end of a vend.
    mutating func takeOutgoing() -> [String]
    /// How often the link calls `tick()` while the device is open; nil: never.
    var tickInterval: Duration? { get }
    /// A periodic beat (liveness probes); events to report, lines via `takeOutgoing()`.
    mutating func tick() -> [ControllerEvent]
    /// A protocol whose vend requests carry no id (MDB): the last `decode` read a request that
    /// waits for `handIn(vendID:)` before anything else.
    var awaitsVendID: Bool { get }
    /// Names the waiting vend request with an id made outside the codec (a durable counter), or
    /// denies it when none could be made (nil). The events to report.
    mutating func handIn(vendID: VendID?) -> [ControllerEvent]
}

extension ControllerCodec {
    public var maxLineBytes: Int { 256 }
    public var lineTerminator: String { "\n" }
    public mutating func linkDidOpen() {}
    public mutating func takeOutgoing() -> [String] { [] }
    public var tickInterval: Duration? { nil }
    public mutating func tick() -> [ControllerEvent] { [] }
    public var awaitsVendID: Bool { false }
    public mutating func handIn(vendID: VendID?) -> [ControllerEvent] { [] }
}

/// A codec with the link's vend numbering: after each line, a vend request that waits for an id
/// gets one from `makeVendID` (the daemon's durable counter in the journal), so that the codec
/// itself stays pure. What `ControllerLink.make` builds for `qibixx-mdb`; tests drive it alike.
@dynamicMemberLookup
public struct VendNumbering<Codec: ControllerCodec>: ControllerCodec {
    public private(set) var codec: Codec
    let makeVendID: @Sendable () -> VendID?

    /// - Parameter makeVendID: a new, never repeated id for each vend request (nil when none can
    ///   be made: the request is denied).
    public init(_ codec: Codec, makeVendID: @escaping @Sendable () -> VendID?) {
        self.codec = codec
        self.makeVendID = makeVendID
    }

    /// The wrapped codec's own properties (`pendingVend`, `isSetUp`, ...).
    public subscript<Value>(dynamicMember keyPath: KeyPath<Codec, Value>) -> Value { codec[keyPath: keyPath] }

    public mutating func decode(_ line: String) -> [ControllerEvent] {
        var events = codec.decode(line)
        if codec.awaitsVendID { events += codec.handIn(vendID: makeVendID()) }
        return events
    }

    public mutating func encode(_ command: ControllerCommand) -> [String] { codec.encode(command) }
    public var maxLineBytes: Int { codec.maxLineBytes }
    public var lineTerminator: String { codec.lineTerminator }
    public mutating func linkDidOpen() { codec.linkDidOpen() }
    public mutating func takeOutgoing() -> [String] { codec.takeOutgoing() }
    public var tickInterval: Duration? { codec.tickInterval }
    public mutating func tick() -> [ControllerEvent] { codec.tick() }
    public var awaitsVendID: Bool { codec.awaitsVendID }
    public mutating func handIn(vendID: VendID?) -> [ControllerEvent] { codec.handIn(vendID: vendID) }
}

/// Text made safe for one field of a line protocol: printable ASCII only (anything else
/// becomes `?`), runs of spaces collapsed, trimmed, at most `limit` characters.
func protocolText(_ text: String, limit: Int, replacingCommas: Bool = false) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(min(limit, text.utf8.count))
    var lastWasSpace = true  // drops leading spaces
    for scalar in text.unicodeScalars {
        guard out.count < limit else { break }
        var byte: UInt8 = scalar.isASCII ? UInt8(scalar.value) : UInt8(ascii: "?")
        if byte == 0x09 || byte == 0x0A || byte == 0x0D { byte = 0x20 }
        if byte < 0x20 || byte == 0x7F { byte = UInt8(ascii: "?") }
        if replacingCommas && byte == UInt8(ascii: ",") { byte = UInt8(ascii: ";") }
        if byte == 0x20 {
            if lastWasSpace { continue }
            lastWasSpace = true
        } else {
            lastWasSpace = false
        }
        out.append(byte)
    }
    while out.last == 0x20 { out.removeLast() }
    return String(decoding: out, as: UTF8.self)
}
