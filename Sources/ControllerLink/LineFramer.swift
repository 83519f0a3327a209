/// Splits a serial byte stream into text lines. Pure: bytes in, lines and errors out.
///
/// - Terminators: LF, CR LF and a lone CR. CR LF counts once, even when the CR and the LF
///   arrive in different reads.
/// - Bounded: a line longer than `maxLineBytes` (terminator excluded) is never grown; the
///   framer reports it ONCE, drops its bytes and resynchronises at the next terminator.
/// - A line that is not valid UTF-8 becomes one error; the next line is unaffected.
/// - Empty lines (two terminators in a row) are skipped silently.
public struct LineFramer: Sendable {
    /// What the framer found in the bytes fed so far.
    public enum Output: Hashable, Sendable {
        case line(String)
        case error(FramingError)
    }

    /// Why some bytes did not become a line.
    public enum FramingError: Error, Hashable, Sendable, CustomStringConvertible {
        /// A line ran past the limit; its bytes up to the next terminator were dropped.
        case lineTooLong(limit: Int)
        /// A line held bytes that are not UTF-8.
        case invalidUTF8(byteCount: Int)

        public var description: String {
            switch self {
            case .lineTooLong(let limit):
                return "line longer than \(limit) bytes; dropped up to the next line end"
            case .invalidUTF8(let count):
                return "line of \(count) bytes is not valid UTF-8; dropped"
            }
        }
    }

    /// The longest line accepted, terminator excluded.
    public let maxLineBytes: Int
    private var buffer: [UInt8] = []
    /// True while the rest of an overlong line is being dropped.
    private var discarding = false
    /// True when the last byte seen was a CR, so an LF right after it is not a second line end.
    private var afterCR = false

    public init(maxLineBytes: Int = 256) {
        precondition(maxLineBytes > 0, "maxLineBytes must be positive")
        self.maxLineBytes = maxLineBytes
        buffer.reserveCapacity(maxLineBytes)
    }

    /// Bytes of a partial line waiting for its terminator.
    public var pendingByteCount: Int { buffer.count }

    /// Forgets any partial line (after a reconnect the old bytes mean nothing).
    public mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        discarding = false
        afterCR = false
    }

    /// Feeds the bytes of one read; returns every complete line (or error) in order.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [Output] where Bytes.Element == UInt8 {
        var out: [Output] = []
        for byte in bytes {
            switch byte {
            case 0x0A where afterCR:  // the LF of CR LF: the line already ended at the CR
                afterCR = false
            case 0x0A, 0x0D:
                afterCR = byte == 0x0D
                endLine(into: &out)
            default:
                afterCR = false
                if discarding { continue }
                if buffer.count == maxLineBytes {
                    out.append(.error(.lineTooLong(limit: maxLineBytes)))
                    buffer.removeAll(keepingCapacity: true)
                    discarding = true
                } else {
                    buffer.append(byte)
                }
            }
        }
        return out
    }

    private mutating func endLine(into out: inout [Output]) {
        defer { buffer.removeAll(keepingCapacity: true) }
        if discarding {
            discarding = false
            return
        }
        guard !buffer.isEmpty else { return }
        if let text = String(validating: buffer, as: UTF8.self) {
            out.append(.line(text))
        } else {
            out.append(.error(.invalidUTF8(byteCount: buffer.count)))
        }
    }
}
