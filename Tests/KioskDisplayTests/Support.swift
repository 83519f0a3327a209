import Foundation
import KioskCore
import KioskTestSupport
import PayCodes

@testable import KioskDisplay

/// A fresh directory per test so the suite can run in parallel.
func makeTempDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "kiosk-display-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

enum Payloads {
    /// A pay-page URL of about 100 characters, like the `{qr_code_image_url}` template gives.
    static let url =
        "https://pay.drippay.example/invoice/inv_01HZX7Q6N8V4K2M9P3R5T7W1YB?ref=vend-000123&machine=lobby-east-02"

    /// A lowercase bech32 Lightning invoice of 400 characters (deterministic pseudo-random data part).
    static let lightning: String = {
        let charset = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var text = "lnbc25u1p"
        while text.count < 400 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            text.append(charset[Int(state >> 59)])
        }
        return text
    }()
}

let usd = Currency(iso: "USD")!

func payScreen(_ payload: String, seconds: Int = 95) -> Screen {
    .pay(
        PayScreen(
            qrPayload: payload, product: "Sparkling water 0.5 l", price: Money(minorUnits: 250, currency: usd),
            secondsLeft: seconds))
}

/// Decodes every barcode in the image at `path` with zbar, independently of libqrencode.
/// Returns nil when zbar finds nothing. Bounded by a timeout so a stuck decoder fails the test.
func zbarDecode(_ path: String) async throws -> String? {
    let result = try await ChildProcess.run("/usr/bin/zbarimg", ["--raw", "-q", path], timeout: .seconds(20))
    guard result.status == 0, !result.timedOut else { return nil }
    var bytes = result.stdoutBytes
    // zbarimg --raw ends each symbol with a newline.
    if bytes.last == 0x0A { bytes.removeLast() }
    return String(decoding: bytes, as: UTF8.self)
}

/// A minimal binary PPM (P6) writer, so images under test reach zbar without our PNG encoder.
func writePPM(width: Int, height: Int, rgb: [UInt8], to path: String) throws {
    var data = Data("P6\n\(width) \(height)\n255\n".utf8)
    data.append(contentsOf: rgb)
    try data.write(to: URL(fileURLWithPath: path))
}

/// Converts a raw framebuffer dump back to packed RGB from the layouts fbdev drivers report,
/// written out here on purpose rather than through `PixelFormat`.
func rgbFromFramebufferDump(_ dump: [UInt8], width: Int, height: Int, bitsPerPixel: Int) -> [UInt8] {
    var rgb: [UInt8] = []
    rgb.reserveCapacity(width * height * 3)
    let bytesPerPixel = bitsPerPixel / 8
    for i in 0..<(width * height) {
        let p = i * bytesPerPixel
        switch bitsPerPixel {
        case 16:  // RGB565, little-endian word
            let word = Int(dump[p]) | Int(dump[p + 1]) << 8
            rgb.append(UInt8(((word >> 11) & 0x1F) * 255 / 31))
            rgb.append(UInt8(((word >> 5) & 0x3F) * 255 / 63))
            rgb.append(UInt8((word & 0x1F) * 255 / 31))
        default:  // 24: B G R, 32: B G R A
            rgb.append(dump[p + 2])
            rgb.append(dump[p + 1])
            rgb.append(dump[p])
        }
    }
    return rgb
}

/// Turns the half-block QR lines of terminal output back into modules: each character is the
/// top and bottom module of one column.
func modulesFromHalfBlocks(_ lines: [String]) -> [[Bool]] {
    var rows: [[Bool]] = []
    for line in lines {
        var top: [Bool] = [], bottom: [Bool] = []
        for ch in line {
            switch ch {
            case "█": top.append(true); bottom.append(true)
            case "▀": top.append(true); bottom.append(false)
            case "▄": top.append(false); bottom.append(true)
            default: top.append(false); bottom.append(false)
            }
        }
        rows.append(top)
        rows.append(bottom)
    }
    return rows
}

/// Modules as a black-on-white RGB image at `scale` pixels per module.
func rgbFromModules(_ modules: [[Bool]], scale: Int) -> (width: Int, height: Int, rgb: [UInt8]) {
    let width = (modules.map(\.count).max() ?? 0) * scale
    let height = modules.count * scale
    var rgb = [UInt8](repeating: 255, count: width * height * 3)
    for (my, row) in modules.enumerated() {
        for (mx, dark) in row.enumerated() where dark {
            for y in (my * scale)..<((my + 1) * scale) {
                for x in (mx * scale)..<((mx + 1) * scale) {
                    let i = (y * width + x) * 3
                    rgb[i] = 0; rgb[i + 1] = 0; rgb[i + 2] = 0
                }
            }
        }
    }
    return (width, height, rgb)
}

/// What a scanner reads back from a drawn payload: a Lightning request is drawn upper-case (QR
/// alphanumeric mode), anything else exactly as given.
func asDrawn(_ payload: String) -> String { LightningText.forDrawing(payload) }
