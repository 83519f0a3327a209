import Foundation
import KioskCore
import PayCodes
import Testing

@testable import KioskDisplay

@Suite("Pay codes on screen")
struct PayCodeScreenTests {
    let usd = Currency(code: "USD", minorDigits: 2)

    @Test("a Lightning request is drawn upper-case in fewer modules; a URL keeps its case and mode")
    func upperCaseAlphanumeric() throws {
        let lower = try QRCode(payload: Payloads.lightning)
        let drawn = try QRCode.forScreen(Payloads.lightning)
        #expect(drawn.size < lower.size, "alphanumeric \(drawn.size) vs byte \(lower.size) modules")
        #expect(try QRCode.forScreen(Payloads.url) == QRCode(payload: Payloads.url))
        #expect(
            try QRCode.forScreen("lightning:" + Payloads.lightning).size
                < QRCode(payload: "lightning:" + Payloads.lightning).size)
    }

    @Test("the upper-case code on a 480x320 screen reads back with zbar as the upper-cased request")
    func screenReadsUpperCase() async throws {
        let dir = try makeTempDirectory()
        let path = dir + "/screen.png"
        let output = try PNGOutput(options: DisplayOptions(output: .png, width: 480, height: 320, pngPath: path))
        try await output.show(
            .pay(
                PayScreen(
                    code: .text("lightning:" + Payloads.lightning), product: "Soda",
                    price: Money(minorUnits: 150, currency: usd), secondsLeft: 30)))
        #expect(try await zbarDecode(path) == "LIGHTNING:" + Payloads.lightning.uppercased())
    }

    @Test("the invoice's own picture is drawn at the largest whole scale, each pixel a crisp square")
    func pictureNearestNeighbour() throws {
        // A 3x2 picture: black, white, grey / white, black, white.
        let picture = GrayImage(width: 3, height: 2, pixels: [0, 255, 128, 255, 0, 255])
        var canvas = Canvas(width: 100, height: 50, background: RGB(9, 9, 9))
        let covered = try canvas.draw(picture, in: Rect(x: 0, y: 0, width: 100, height: 50))
        let scale = min(100 / 3, 50 / 2)
        #expect(covered.width == 3 * scale && covered.height == 2 * scale)
        for (x, y, v) in [(0, 0, UInt8(0)), (1, 0, 255), (2, 0, 128), (0, 1, 255), (1, 1, 0), (2, 1, 255)] {
            for (dx, dy) in [(0, 0), (scale - 1, 0), (0, scale - 1), (scale - 1, scale - 1)] {
                #expect(canvas[covered.x + x * scale + dx, covered.y + y * scale + dy] == RGB(v, v, v))
            }
        }
        #expect(canvas[0, 0] == RGB(9, 9, 9), "outside the picture is untouched")
        var small = Canvas(width: 64, height: 64)
        #expect(throws: DisplayError.self) {
            try small.draw(GrayImage(width: 100, height: 10), in: Rect(x: 0, y: 0, width: 64, height: 64))
        }
    }

    @Test("while a code is refreshed the screen holds no QR at all, and says so")
    func waitingHasNoCode() async throws {
        let dir = try makeTempDirectory()
        let path = dir + "/screen.png"
        let output = try PNGOutput(options: DisplayOptions(output: .png, width: 480, height: 320, pngPath: path))
        try await output.show(
            .pay(
                PayScreen(
                    code: .waiting(message: .refreshingCode), product: "Soda",
                    price: Money(minorUnits: 150, currency: usd), secondsLeft: 30)))
        #expect(try await zbarDecode(path) == nil)
        let lines = TerminalArt.lines(
            for: .pay(
                PayScreen(
                    code: .waiting(message: .refreshingCode), product: "Soda",
                    price: Money(minorUnits: 150, currency: usd), secondsLeft: 30)), qr: nil, colors: false)
        #expect(lines.contains("The payment code is being refreshed…"))
    }

    @Test("a new code is not a countdown tick; the same code with less time left is")
    func codeChangeIsNotATick() {
        let a = PayScreen(
            code: .text("A"), product: "Soda", price: Money(minorUnits: 150, currency: usd), secondsLeft: 30)
        var b = a
        b.secondsLeft = 29
        #expect(b.isTick(of: a))
        b.code = .text("B")
        #expect(!b.isTick(of: a))
    }
}
