import KioskCore
import Testing

@testable import KioskDisplay

@Suite("QR encoding")
struct QRCodeTests {
    @Test("the shortest version that fits is chosen")
    func shortestVersion() throws {
        let short = try QRCode(payload: "hello", errorCorrection: .M)
        #expect(short.version == 1)
        #expect(short.size == 21)
        let long = try QRCode(payload: Payloads.lightning, errorCorrection: .M)
        #expect(long.size == 17 + 4 * long.version)
        #expect(long.version > 10)
    }

    @Test("higher error correction needs a bigger symbol for the same payload")
    func errorCorrectionFromOptions() throws {
        let low = try QRCode(payload: Payloads.url, errorCorrection: .L)
        let high = try QRCode(payload: Payloads.url, errorCorrection: .H)
        #expect(high.version > low.version)
    }

    @Test("outside the symbol is light (the quiet zone)")
    func quietZoneIsLight() throws {
        let code = try QRCode(payload: "x")
        #expect(code.isDark(0, 0))  // the finder pattern's corner
        #expect(!code.isDark(-1, 0))
        #expect(!code.isDark(code.size, 0))
    }

    @Test("a payload longer than a QR code holds names its length and the limit")
    func tooLongPayload() {
        let payload = String(repeating: "a", count: 2400)
        #expect(throws: DisplayError.payloadTooLong(length: 2400, limit: 2331, errorCorrection: .M)) {
            try QRCode(payload: payload, errorCorrection: .M)
        }
        let message = DisplayError.payloadTooLong(length: 2400, limit: 2331, errorCorrection: .M).description
        #expect(message.contains("2400") && message.contains("2331") && message.contains("qr.payload"))
    }

    @Test("the largest payload at the limit still encodes")
    func payloadAtLimit() throws {
        let code = try QRCode(payload: String(repeating: "a", count: 1273), errorCorrection: .H)
        #expect(code.version == 40)
    }
}

@Suite("Canvas")
struct CanvasTests {
    @Test("the QR is drawn at the largest integer module size with a white 4-module quiet zone")
    func crispScaling() throws {
        let code = try QRCode(payload: "hello")  // 21 modules + 8 quiet = 29
        var canvas = Canvas(width: 300, height: 300, background: RGB(200, 0, 0))
        let covered = try canvas.draw(code, in: Rect(x: 10, y: 10, width: 200, height: 200))
        #expect(covered.width == 29 * 6)  // 200 / 29 = 6 pixels per module
        let scale = 6
        // The quiet zone is white right up to the symbol...
        #expect(canvas[covered.x, covered.y] == .white)
        #expect(canvas[covered.x + 4 * scale - 1, covered.y + 4 * scale - 1] == .white)
        // ...and the finder's corner module is a full dark square.
        #expect(canvas[covered.x + 4 * scale, covered.y + 4 * scale] == .black)
        #expect(canvas[covered.x + 5 * scale - 1, covered.y + 5 * scale - 1] == .black)
        // Outside the covered square the background is untouched.
        #expect(canvas[covered.x - 1, covered.y] == RGB(200, 0, 0))
    }

    @Test("a QR that cannot get one pixel per module is an error naming the screen size")
    func qrTooBigForArea() throws {
        let code = try QRCode(payload: Payloads.lightning)
        var canvas = Canvas(width: 64, height: 64)
        #expect(throws: DisplayError.qrDoesNotFit(modules: code.size + 8, pixels: 64, width: 64, height: 64)) {
            try canvas.draw(code, in: Rect(x: 0, y: 0, width: 64, height: 64))
        }
    }

    @Test("portrait puts the QR above the text and landscape beside it")
    func layoutFollowsOrientation() {
        let portrait = ScreenRenderer.payLayout(width: 320, height: 480)
        #expect(portrait.qr.width == 320 && portrait.text.y >= portrait.qr.maxY)
        let landscape = ScreenRenderer.payLayout(width: 480, height: 320)
        #expect(landscape.qr.height == 320 && landscape.text.x >= landscape.qr.maxX)
    }
}

@Suite("Pixel formats")
struct PixelFormatTests {
    @Test("RGB565 keeps the top bits of each channel")
    func rgb565() {
        let format = PixelFormat.standard(bitsPerPixel: 16)!
        #expect(format.pack(RGB(255, 0, 0)) == 0xF800)
        #expect(format.pack(RGB(0, 255, 0)) == 0x07E0)
        #expect(format.pack(RGB(0, 0, 255)) == 0x001F)
    }

    @Test("channels go where the driver reports them, e.g. red in the low byte")
    func reportedOffsets() {
        let format = PixelFormat(
            bitsPerPixel: 32, red: .init(offset: 0, length: 8), green: .init(offset: 8, length: 8),
            blue: .init(offset: 16, length: 8))
        #expect(format.isSupported)
        #expect(format.pack(RGB(0x11, 0x22, 0x33)) == 0x0033_2211)
    }

    @Test("channels wider than 8 bits or outside the pixel are not supported")
    func unsupportedLayouts() {
        let wide = PixelFormat(
            bitsPerPixel: 32, red: .init(offset: 20, length: 10), green: .init(offset: 10, length: 10),
            blue: .init(offset: 0, length: 10))
        #expect(!wide.isSupported)
        let outside = PixelFormat(
            bitsPerPixel: 16, red: .init(offset: 16, length: 5), green: .init(offset: 5, length: 6),
            blue: .init(offset: 0, length: 5))
        #expect(!outside.isSupported)
    }

    @Test("frames honour a stride longer than the visible line")
    func strideIsRespected() {
        let format = PixelFormat.standard(bitsPerPixel: 32)!
        let geometry = FrameGeometry(width: 2, height: 2, stride: 12, format: format)
        var canvas = Canvas(width: 2, height: 2, background: .black)
        canvas.fill(Rect(x: 1, y: 1, width: 1, height: 1), with: RGB(0x10, 0x20, 0x30))
        let frame = geometry.encode(canvas)
        #expect(frame.count == 24)
        #expect(Array(frame[16..<20]) == [0x30, 0x20, 0x10, 0xFF])  // B G R A of pixel (1,1)
        #expect(Array(frame[8..<12]) == [0, 0, 0, 0])  // padding
    }
}
