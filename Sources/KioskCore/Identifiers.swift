/// Checks a token of `[A-Za-z0-9_-]` with a bounded length, as the controller protocols require.
@inlinable
func isProtocolToken(_ text: String, maxLength: Int) -> Bool {
    let bytes = text.utf8
    guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
    return bytes.allSatisfy { b in
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2D
    }
}

/// The controller's id for one vend: 1-32 of `[A-Za-z0-9_-]`, unique per vend (docs/vmc-line.md).
public struct VendID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String
    public init?(_ rawValue: String) {
        guard isProtocolToken(rawValue, maxLength: 32) else { return nil }
        self.rawValue = rawValue
    }
    public var description: String { rawValue }
    public static func < (a: VendID, b: VendID) -> Bool { a.rawValue < b.rawValue }
}

/// A product (selection) code on the machine: 1-16 of `[A-Za-z0-9_-]`.
public struct ProductCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init?(_ rawValue: String) {
        guard isProtocolToken(rawValue, maxLength: 16) else { return nil }
        self.rawValue = rawValue
    }
    public var description: String { rawValue }
}

/// The daemon's own correlation id for a session, sent to the API as `trade_no`.
/// Unique per machine: the journal enforces it.
public struct TradeNo: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
    public static func < (a: TradeNo, b: TradeNo) -> Bool { a.rawValue < b.rawValue }
}

/// The API's id of an invoice (a UUID string), used in every invoice URL.
public struct InvoiceReference: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}
