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
}

extension ControllerCodec {
    public var maxLineBytes: Int { 256 }
    public var lineTerminator: String { "\n" }
    public mutating func linkDidOpen() {}
    public mutating func takeOutgoing() -> [String] { [] }
    public var tickInterval: Duration? { nil }
    public mutating func tick() -> [ControllerEvent] { [] }
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
