import CQRencode
import Glibc
import KioskCore
import PayCodes

/// A QR symbol encoded by libqrencode, copied into Swift memory: in byte (8-bit) mode, or in
/// libqrencode's mixed modes (alphanumeric for an upper-case Lightning request).
///
/// The C object is freed as soon as the modules are copied, so a `QRCode` is a plain value.
public struct QRCode: Hashable, Sendable {
    /// Modules per side (21 for version 1, 177 for version 40), without the quiet zone.
    public let size: Int
    /// The QR version libqrencode chose (1...40).
    public let version: Int
    /// Row-major, `true` for a dark module.
    private let modules: [Bool]

    /// How the text becomes modules.
    public enum Mode: Hashable, Sendable {
        /// Every byte in 8-bit mode (case-preserving, any text).
        case byte
        /// libqrencode picks the shortest segments (numeric, alphanumeric, 8-bit); case is kept.
        case optimized
    }

    /// Encodes `payload`'s UTF-8 bytes with the shortest version that fits (version 0 asks for that).
    public init(payload: String, errorCorrection: QRErrorCorrection = .M, mode: Mode = .byte) throws(DisplayError) {
        let bytes = Array(payload.utf8)
        let limit = QRCode.byteCapacity(errorCorrection)
        guard !bytes.isEmpty else { throw .emptyPayload }
        guard bytes.count <= limit else {
            throw .payloadTooLong(length: bytes.count, limit: limit, errorCorrection: errorCorrection)
        }
        let level: QRecLevel
        switch errorCorrection {
        case .L: level = QR_ECLEVEL_L
        case .M: level = QR_ECLEVEL_M
        case .Q: level = QR_ECLEVEL_Q
        case .H: level = QR_ECLEVEL_H
        }
        let encoded: UnsafeMutablePointer<QRcode>?
        switch mode {
        case .byte:
            encoded = bytes.withUnsafeBufferPointer { buffer in
                QRcode_encodeData(Int32(buffer.count), buffer.baseAddress, 0, level)
            }
        case .optimized:
            // Case-sensitive, so only text that is already upper case gets alphanumeric segments.
            encoded = payload.withCString { QRcode_encodeString($0, 0, level, QR_MODE_8, 1) }
        }
        guard let code = encoded else {
            let error = errno
            if error == ERANGE {
                throw .payloadTooLong(length: bytes.count, limit: limit, errorCorrection: errorCorrection)
            }
            throw .qrEncodingFailed(errno: error)
        }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        // Bit 0 of each byte is the module colour; the other bits describe what the module is for.
        let data = UnsafeBufferPointer(start: code.pointee.data, count: width * width)
        self.size = width
        self.version = Int(code.pointee.version)
        self.modules = data.map { $0 & 1 == 1 }
    }

    /// The symbol a pay screen draws for `text`: a Lightning request upper-cased in alphanumeric
    /// mode (fewer, bigger modules); anything else byte for byte, case untouched.
    public static func forScreen(_ text: String, errorCorrection: QRErrorCorrection = .M) throws(DisplayError) -> QRCode
    {
        if LightningText.isLightningRequest(text) {
            return try QRCode(payload: text.uppercased(), errorCorrection: errorCorrection, mode: .optimized)
        }
        return try QRCode(payload: text, errorCorrection: errorCorrection)
    }

    /// Whether the module at column `x`, row `y` is dark. Outside the symbol (the quiet zone) is light.
    public func isDark(_ x: Int, _ y: Int) -> Bool {
        guard x >= 0, y >= 0, x < size, y < size else { return false }
        return modules[y * size + x]
    }

    /// The most bytes a version-40 symbol holds in byte mode at each level (ISO/IEC 18004 table 7).
    public static func byteCapacity(_ level: QRErrorCorrection) -> Int {
        switch level {
        case .L: return 2953
        case .M: return 2331
        case .Q: return 1663
        case .H: return 1273
        }
    }
}
