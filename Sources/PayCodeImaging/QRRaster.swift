import CQRencode
import CWebP
import PayCodes

/// Draws a text as a QR picture and encodes pictures as WebP: what the sandbox serves at
/// `qr_code_image_url`, and what tests feed the decoder.
public enum QRRaster {
    public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
        case encodingFailed(length: Int)
        case webpFailed(width: Int, height: Int)
        public var description: String {
            switch self {
            case .encodingFailed(let length): return "libqrencode could not encode \(length) bytes as a QR symbol"
            case .webpFailed(let w, let h): return "libwebp could not encode a \(w)x\(h) picture"
            }
        }
    }

    /// `text` as a QR symbol (byte mode, level M), `scale` pixels per module, a 4-module quiet zone.
    public static func image(_ text: String, scale: Int, quietZone: Int = 4) throws(Failure) -> GrayImage {
        let bytes = Array(text.utf8)
        let encoded = bytes.withUnsafeBufferPointer {
            QRcode_encodeData(Int32($0.count), $0.baseAddress, 0, QR_ECLEVEL_M)
        }
        guard let code = encoded else { throw .encodingFailed(length: bytes.count) }
        defer { QRcode_free(code) }
        let size = Int(code.pointee.width)
        let side = (size + 2 * quietZone) * scale
        var image = GrayImage(width: side, height: side)
        for my in 0..<size {
            for mx in 0..<size where code.pointee.data[my * size + mx] & 1 == 1 {
                for dy in 0..<scale {
                    let row = ((my + quietZone) * scale + dy) * side
                    for dx in 0..<scale { image.pixels[row + (mx + quietZone) * scale + dx] = 0 }
                }
            }
        }
        return image
    }

    /// `image` as a lossless WebP file.
    public static func webp(_ image: GrayImage) throws(Failure) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: image.width * image.height * 3)
        for (i, v) in image.pixels.enumerated() {
            rgb[3 * i] = v
            rgb[3 * i + 1] = v
            rgb[3 * i + 2] = v
        }
        var output: UnsafeMutablePointer<UInt8>?
        let size = rgb.withUnsafeBufferPointer {
            WebPEncodeLosslessRGB(
                $0.baseAddress, Int32(image.width), Int32(image.height), Int32(image.width * 3), &output)
        }
        guard size > 0, let output else { throw .webpFailed(width: image.width, height: image.height) }
        defer { WebPFree(output) }
        return Array(UnsafeBufferPointer(start: output, count: size))
    }
}
