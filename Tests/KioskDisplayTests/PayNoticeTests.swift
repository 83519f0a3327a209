import Foundation
import KioskCore
import Testing

@testable import KioskDisplay

/// The pay screen's notice (the machine goes out of service after this sale): drawn by every
/// output, beside or below the QR, never over it.
@Suite("Pay screen notice")
struct PayNoticeTests {
    static let notice = "API unreachable"

    func pay(notice: String?) -> PayScreen {
        PayScreen(
            code: .text("https://pay.example/i/abc123"), product: "Soda", price: Money(minorUnits: 150, currency: usd),
            secondsLeft: 42,
            notice: notice)
    }

    func amberPixels(_ canvas: Canvas, in rect: Rect) -> Int {
        var count = 0
        for y in rect.y..<(rect.y + rect.height) {
            for x in rect.x..<(rect.x + rect.width) where canvas[x, y] == ScreenRenderer.Palette.notice { count += 1 }
        }
        return count
    }

    @Test(
        "the notice is drawn in the text area on landscape and portrait; the QR area is the same pixels",
        arguments: [(480, 320), (320, 480)])
    func drawnOutsideTheQR(size: (Int, Int)) throws {
        let (width, height) = size
        let renderer = try ScreenRenderer()
        let plain = try renderer.render(.pay(pay(notice: nil)), width: width, height: height)
        let noticed = try renderer.render(.pay(pay(notice: Self.notice)), width: width, height: height)
        let layout = ScreenRenderer.payLayout(width: width, height: height)
        #expect(amberPixels(plain, in: layout.text) == 0)
        #expect(amberPixels(noticed, in: layout.text) > layout.text.width * layout.text.height / 10)
        #expect(amberPixels(noticed, in: layout.qr) == 0)
        var sameQR = true
        for y in layout.qr.y..<(layout.qr.y + layout.qr.height) {
            for x in layout.qr.x..<(layout.qr.x + layout.qr.width) where plain[x, y] != noticed[x, y] { sameQR = false }
        }
        #expect(sameQR, "the notice must not touch the QR")
    }

    @Test("with the notice the PNG's QR still reads back with zbar")
    func qrStillDecodes() async throws {
        let dir = try makeTempDirectory()
        for (width, height) in [(480, 320), (320, 480)] {
            let path = dir + "/notice-\(width)x\(height).png"
            let output = try PNGOutput(
                options: DisplayOptions(output: .png, width: width, height: height, pngPath: path))
            try await output.show(.pay(pay(notice: Self.notice)))
            #expect(try await zbarDecode(path) == "https://pay.example/i/abc123")
        }
    }

    @Test("the terminal shows the notice above the countdown, which stays the last line")
    func terminalLines() {
        let lines = TerminalArt.lines(for: .pay(pay(notice: Self.notice)), qr: nil, colors: false)
        #expect(lines.contains("Notice: This machine goes out of service after this sale."))
        #expect(!lines.contains { $0.contains(Self.notice) }, "the operator's reason is not the customer's text")
        #expect(lines.last == "Time left 0:42")
        #expect(
            !TerminalArt.lines(for: .pay(pay(notice: nil)), qr: nil, colors: false).contains { $0.hasPrefix("Notice:") }
        )
    }

    @Test("a notice appearing is a new screen, not a countdown tick")
    func noticeIsNotATick() {
        #expect(!pay(notice: Self.notice).isTick(of: pay(notice: nil)))
        var later = pay(notice: Self.notice)
        later.secondsLeft = 41
        #expect(later.isTick(of: pay(notice: Self.notice)))
    }
}
