import Glibc
import KioskCore

/// Why a screen could not be encoded, drawn or written. Each case says where and what to do.
public enum DisplayError: Error, Hashable, Sendable, CustomStringConvertible {
    case emptyPayload
    case payloadTooLong(length: Int, limit: Int, errorCorrection: QRErrorCorrection)
    case qrEncodingFailed(errno: Int32)
    /// The QR plus its quiet zone needs more pixels than the area the layout gives it.
    case qrDoesNotFit(modules: Int, pixels: Int, width: Int, height: Int)
    /// The invoice's own picture is larger than the area the layout gives the QR.
    case imageDoesNotFit(imageWidth: Int, imageHeight: Int, areaWidth: Int, areaHeight: Int)
    case fontNotFound(file: String, searched: [String])
    case fontLoadFailed(path: String, freetypeError: Int32)
    case glyphFailed(path: String, character: String, freetypeError: Int32)
    case framebufferOpenFailed(device: String, errno: Int32)
    case framebufferQueryFailed(device: String, request: String, errno: Int32)
    /// A plain file stands in for a framebuffer but the options lack its geometry.
    case framebufferGeometryMissing(device: String, missing: [String])
    case framebufferUnsupportedFormat(device: String, bitsPerPixel: Int)
    case framebufferWriteFailed(device: String, errno: Int32, written: Int, expected: Int)
    case invalidGeometry(width: Int, height: Int)
    case pngEncodingFailed(path: String, message: String)
    case pngWriteFailed(path: String, step: String, errno: Int32)
    case terminalWriteFailed(errno: Int32)

    public var description: String {
        switch self {
        case .emptyPayload:
            return "QR payload is empty: check the qr.payload template in the config"
        case .payloadTooLong(let length, let limit, let level):
            return "QR payload is \(length) bytes but a QR code holds at most \(limit) bytes at error correction "
                + "\(level.rawValue): shorten qr.payload (e.g. use {reference} instead of the full invoice) "
                + "or lower the error correction"
        case .qrEncodingFailed(let code):
            return "libqrencode failed to encode the payload: \(DisplayError.describe(code))"
        case .qrDoesNotFit(let modules, let pixels, let width, let height):
            return "the QR code needs \(modules) modules (quiet zone included) but only \(pixels) pixels are free "
                + "on a \(width)x\(height) screen: shorten qr.payload or use a larger display"
        case .imageDoesNotFit(let iw, let ih, let aw, let ah):
            return "the invoice's QR picture is \(iw)x\(ih) pixels but the QR area is \(aw)x\(ah): "
                + "use a larger display, or [qr] source = \"template\""
        case .fontNotFound(let file, let searched):
            return "font \(file) not found (looked in \(searched.joined(separator: ", "))): "
                + "install it with 'apt-get install fonts-dejavu-core'"
        case .fontLoadFailed(let path, let code):
            return "FreeType could not load the font \(path) (error \(code)): reinstall fonts-dejavu-core"
        case .glyphFailed(let path, let character, let code):
            return "FreeType could not render '\(character)' from \(path) (error \(code))"
        case .framebufferOpenFailed(let device, let code) where code == EPERM:
            return "opening framebuffer \(device) was refused by a device policy (EPERM), not by its permissions: "
                + "under systemd allow it in the unit (DeviceAllow=char-fb rw: a path such as /dev/fb0 is resolved "
                + "only when the unit starts, so a framebuffer that appears later needs the class)"
        case .framebufferOpenFailed(let device, let code):
            return "cannot open framebuffer \(device): \(DisplayError.describe(code)); check display.device, "
                + "that the device exists (ls /dev/fb*) and that this user is in the 'video' group"
        case .framebufferQueryFailed(let device, let request, let code):
            return "\(request) on \(device) failed: \(DisplayError.describe(code)); is it a framebuffer device?"
        case .framebufferGeometryMissing(let device, let missing):
            return "\(device) is a plain file, not a framebuffer device, so its geometry must be configured: "
                + "set \(missing.joined(separator: ", ")) in [display] (or --width/--height/--bpp)"
        case .framebufferUnsupportedFormat(let device, let bpp):
            return "framebuffer \(device) uses \(bpp) bits per pixel; supported are 16, 24 and 32 "
                + "(set it with 'fbset -depth 32' or in the display overlay)"
        case .framebufferWriteFailed(let device, let code, let written, let expected):
            return
                "writing a frame to \(device) failed after \(written) of \(expected) bytes: \(DisplayError.describe(code))"
        case .invalidGeometry(let width, let height):
            return "display geometry \(width)x\(height) is too small to draw a screen (at least 64x64)"
        case .pngEncodingFailed(let path, let message):
            return "libpng could not encode the screen for \(path): \(message)"
        case .pngWriteFailed(let path, let step, let code):
            return "writing the screen PNG \(path) failed at \(step): \(DisplayError.describe(code)); "
                + "check that the directory exists and is writable (display.png_path)"
        case .terminalWriteFailed(let code):
            return "writing the screen to the terminal failed: \(DisplayError.describe(code))"
        }
    }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code)) + " (errno \(code))"
    }
}
