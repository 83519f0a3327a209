#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension String {
    /// Every non-overlapping occurrence of `target`, left to right, replaced by `replacement`,
    /// compared Unicode scalar by scalar (the `.literal` comparison of Foundation's
    /// `replacingOccurrences`, which FoundationEssentials lacks). Unlike `replacing(_:with:)`,
    /// which compares Characters, it finds the `\n` of a `\r\n` and a quote that a combining mark
    /// follows, so escaping and redaction miss nothing.
    public func replacingAll(_ target: String, with replacement: String) -> String {
        let needle = Array(target.unicodeScalars)
        guard let first = needle.first else { return self }
        let scalars = Array(unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == first, i + needle.count <= scalars.count,
                scalars[i..<(i + needle.count)].elementsEqual(needle)
            {
                out.append(contentsOf: replacement.unicodeScalars)
                i += needle.count
            } else {
                out.append(scalars[i])
                i += 1
            }
        }
        return String(out)
    }
}

extension StringProtocol {
    /// The text's UTF-8 with every byte that `keeps` rejects written `%XX` (upper-case hex):
    /// Foundation's `addingPercentEncoding(withAllowedCharacters:)` for an ASCII set.
    /// Text that needs no escape is returned as it is, without building a copy byte by byte.
    public func percentEncoded(keeping keeps: (UInt8) -> Bool) -> String {
        if utf8.allSatisfy(keeps) { return String(self) }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count * 3)
        for byte in utf8 {
            if keeps(byte) {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Exactly `length` characters: cut there, or padded with spaces (Foundation's
    /// `padding(toLength:withPad: " ", startingAt: 0)`, counted in Characters, not UTF-16 units).
    public func padded(toLength length: Int) -> String {
        count >= length ? String(prefix(length)) : String(self) + String(repeating: " ", count: length - count)
    }

    /// The text with each `%XX` replaced by its byte, read as UTF-8; nil when a `%` is not followed
    /// by two hex digits or the bytes are not UTF-8 (Foundation's `removingPercentEncoding`). A `+`
    /// stays a `+`.
    public var percentDecoded: String? {
        let utf8 = Array(self.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var i = 0
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%") {
                guard i + 2 < utf8.count, let high = hex(utf8[i + 1]), let low = hex(utf8[i + 2]) else { return nil }
                bytes.append(high << 4 | low)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(data: Data(bytes), encoding: .utf8)
    }

    /// The text without the leading and trailing scalars that `isTrimmed` accepts (Foundation's
    /// `trimmingCharacters(in:)`, scalar by scalar).
    public func trimmingScalars(where isTrimmed: (Unicode.Scalar) -> Bool) -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isTrimmed($0) })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }

    /// Without leading and trailing white space and line ends (Unicode White_Space: the same
    /// scalars as Foundation's `CharacterSet.whitespacesAndNewlines`).
    public func trimmingWhitespaceAndNewlines() -> String { trimmingScalars(where: \.properties.isWhitespace) }

    /// Without leading and trailing spaces and tabs (Foundation's `CharacterSet.whitespaces`:
    /// the space separators and U+0009), line ends kept.
    public func trimmingWhitespace() -> String {
        trimmingScalars(where: { $0 == "\t" || $0.properties.generalCategory == .spaceSeparator })
    }
}

/// The process's standard output or error, written with write(2) (FoundationEssentials has no
/// `FileHandle`). One call writes all the bytes, retrying partial writes and EINTR, so a line
/// written in one call is never interleaved with another task's. Write errors (a closed pipe) are
/// dropped: there is nowhere left to report them.
public struct StandardStream: Sendable {
    public let fileDescriptor: Int32

    public init(fileDescriptor: Int32) { self.fileDescriptor = fileDescriptor }

    public static let output = StandardStream(fileDescriptor: 1)
    public static let error = StandardStream(fileDescriptor: 2)

    public func write(_ data: Data) {
        _ = data.withUnsafeBytes { FileDescriptorWrite.all($0, to: fileDescriptor) }
    }

    public func write(_ text: String) { write(Data(text.utf8)) }
}
