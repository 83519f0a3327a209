import CPNG
import CWebP
import PayCodes

/// The image formats the QR image may come in.
public enum ImageFormat: String, Hashable, Sendable {
    case webp, png

    /// From a `Content-Type` header (`image/webp`, `image/png`, parameters ignored); nil otherwise.
    public static func from(contentType: String?) -> ImageFormat? {
        guard let contentType else { return nil }
        let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: " \t") }?.lowercased()
        switch media {
        case "image/webp": return .webp
        case "image/png": return .png
        default: return nil
        }
    }

    /// From the first bytes: `RIFF....WEBP` or the PNG signature.
    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WEBP".utf8) {
            return .webp
        }
        if bytes.count >= 8, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            return .png
        }
        return nil
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// Why image bytes could not be turned into pixels.
public enum ImageDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownFormat(contentType: String?, firstBytes: String)
    case malformed(ImageFormat, detail: String)
    case tooLarge(width: Int, height: Int, maxPixels: Int)

    public var description: String {
        switch self {
        case .unknownFormat(let type, let first):
            return
                "the image is neither WebP nor PNG (Content-Type \(type.map { "'\($0)'" } ?? "absent"), first bytes \(first))"
        case .malformed(let format, let detail):
            return "the \(format.rawValue.uppercased()) image is malformed: \(detail)"
        case .tooLarge(let w, let h, let max):
            return "the image is \(w)x\(h) pixels, more than the \(max) pixels a QR image may have"
        }
    }
}

/// WebP (libwebp) and PNG (libpng) bytes to a grey image, transparent pixels on white. Pure: bytes
/// in, pixels out, so a fuzz harness can call `decode` directly.
public enum ImageDecoder {
    /// No QR image needs more pixels than this (a 4096 x 4096 picture); larger ones are refused
    /// before any pixel memory is taken.
    public static let maxPixels = 4096 * 4096

    /// Decodes `bytes`, choosing the format by `contentType`, then by magic bytes.
    public static func decode(_ bytes: [UInt8], contentType: String? = nil) throws(ImageDecodeError) -> GrayImage {
        switch ImageFormat.from(contentType: contentType) ?? ImageFormat.sniff(bytes) {
        case .webp: return try decodeWebP(bytes)
        case .png: return try decodePNG(bytes)
        case nil:
            let first = bytes.prefix(8).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
            throw .unknownFormat(contentType: contentType, firstBytes: first.isEmpty ? "(empty)" : first)
        }
    }

    public static func decodeWebP(_ bytes: [UInt8]) throws(ImageDecodeError) -> GrayImage {
        var width: Int32 = 0
        var height: Int32 = 0
        let ok = bytes.withUnsafeBufferPointer { WebPGetInfo($0.baseAddress, $0.count, &width, &height) }
        guard ok != 0, width > 0, height > 0 else { throw .malformed(.webp, detail: "libwebp cannot read its header") }
        let (w, h) = (Int(width), Int(height))
        guard w * h <= maxPixels else { throw .tooLarge(width: w, height: h, maxPixels: maxPixels) }
        let rgba = bytes.withUnsafeBufferPointer { WebPDecodeRGBA($0.baseAddress, $0.count, &width, &height) }
        guard let rgba else { throw .malformed(.webp, detail: "libwebp could not decode the picture data") }
        defer { WebPFree(rgba) }
        var pixels = [UInt8](repeating: 255, count: w * h)
        for i in 0..<(w * h) {
            let r = Int(rgba[4 * i]), g = Int(rgba[4 * i + 1]), b = Int(rgba[4 * i + 2]), a = Int(rgba[4 * i + 3])
            let luma = (r * 299 + g * 587 + b * 114) / 1000
            pixels[i] = UInt8((luma * a + 255 * (255 - a)) / 255)
        }
        return GrayImage(width: w, height: h, pixels: pixels)
    }

    public static func decodePNG(_ bytes: [UInt8]) throws(ImageDecodeError) -> GrayImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begun = bytes.withUnsafeBufferPointer { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw .malformed(.png, detail: pngMessage(&image)) }
        let (w, h) = (Int(image.width), Int(image.height))
        guard w > 0, h > 0, w * h <= maxPixels else {
            png_image_free(&image)
            throw .tooLarge(width: w, height: h, maxPixels: maxPixels)
        }
        image.format = UInt32(PNG_FORMAT_GRAY)
        var pixels = [UInt8](repeating: 255, count: w * h)
        var white = png_color(red: 255, green: 255, blue: 255)
        let done = pixels.withUnsafeMutableBytes {
            png_image_finish_read(&image, &white, $0.baseAddress, Int32(w), nil)
        }
        guard done != 0 else {
            let message = pngMessage(&image)
            png_image_free(&image)
            throw .malformed(.png, detail: message)
        }
        return GrayImage(width: w, height: h, pixels: pixels)
    }

    private static func pngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            let chars = raw.prefix { $0 != 0 }
            return chars.isEmpty ? "libpng refused it" : String(decoding: chars, as: UTF8.self)
        }
    }
}
