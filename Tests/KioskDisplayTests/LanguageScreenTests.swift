import Foundation
import KioskCore
import Testing

@testable import KioskDisplay

/// Every shipped language on every screen: drawn with the shipped font (DejaVu, no missing
/// glyph), fitting the smallest supported screen without a cut word or a line over the QR, and
/// the QR still read back by zbar.
@Suite("Screens in the machine's language")
struct LanguageScreenTests {
    static let contact = "+1 555 0100 · help@example.com"
    static let supportURL = "https://help.example.com/refund?ref=6MA-WFR"
    static let eur = Currency(iso: "EUR")!
    static let product = "Sparkling mineral water 0.5 l"

    /// Every screen a customer can see, with the texts each must show in full, in drawing order.
    static func screens(_ texts: ScreenTexts) -> [(name: String, screen: Screen, expected: [String])] {
        let price = Money(minorUnits: 150, currency: eur)
        let pay = PayScreen(
            code: .text("https://pay.example/i/abc123"), product: product, price: price, secondsLeft: 65)
        var noticed = pay
        noticed.notice = "api unreachable"
        let payTexts = [texts[.scanToPay], product, texts.price(price), texts.timeLeft(pay)]
        var all: [(String, Screen, [String])] = [
            ("idle", .idle, [texts[.idleMessage]]),
            ("pay", .pay(pay), payTexts),
            ("pay with notice", .pay(noticed), [texts[.goingOutOfService]] + payTexts),
            ("paid", .paid(product: product), [texts[.paidHeading], texts.dispensing(product)]),
            (
                "out of service", .outOfService(reason: "api unreachable"),
                [texts[.outOfServiceHeading], texts[.outOfServiceBody]]
            ),
        ]
        for key in [ScreenTextKey.gettingCode, .refreshingCode, .noCode] {
            var waiting = pay
            waiting.code = .waiting(message: key)
            all.append(("pay waiting \(key.rawValue)", .pay(waiting), [texts[key]] + payTexts))
        }
        for reason in DenyReason.allCases {
            all.append(
                (
                    "cancelled \(reason)", .cancelled(reason: reason),
                    [texts[.cancelledHeading], texts.cancelled(reason)]
                ))
        }
        for kind in RefundNotice.Kind.allCases {
            for url in [nil, supportURL] {
                let notice = RefundNotice(
                    kind: kind, customerReference: TradeNo("T-1").customerReference, contact: contact, url: url)
                all.append(
                    (
                        "refund \(kind) \(url == nil ? "without" : "with") QR", .refund(notice),
                        [
                            texts.heading(kind), texts.body(kind), texts.customerReference(notice),
                            texts.contact(notice)!,
                        ]
                    ))
            }
        }
        return all
    }

    /// Where the QR is on `screen`, if it has one.
    static func qrRect(_ screen: Screen, width: Int, height: Int) -> Rect? {
        switch screen {
        case .pay: return ScreenRenderer.payLayout(width: width, height: height).qr
        case .refund(let notice):
            return ScreenRenderer.refundLayout(width: width, height: height, withQR: notice.url != nil).qr
        default: return nil
        }
    }

    static func intersects(_ a: Rect, _ b: Rect) -> Bool {
        a.x < b.maxX && b.x < a.maxX && a.y < b.maxY && b.y < a.maxY
    }

    static func isWaiting(_ screen: Screen) -> Bool {
        if case .pay(let pay) = screen, case .waiting = pay.code { return true }
        return false
    }

    static func contains(_ outer: Rect, _ inner: Rect) -> Bool {
        inner.x >= outer.x && inner.y >= outer.y && inner.maxX <= outer.maxX && inner.maxY <= outer.maxY
    }

    static func squeezed(_ text: String) -> String { text.filter { $0 != " " } }

    @Test("every character of every catalogue text and price has a glyph of its own in DejaVu Sans and Sans Bold")
    func noMissingGlyphs() throws {
        let fonts = try FontSet(locator: FontLocator())
        var missing: [String] = []
        for language in ScreenLanguage.allCases {
            let texts = ScreenTexts(language: language)
            var strings = ScreenTextKey.allCases.map { ScreenCatalogue.text($0, in: language) }
            for code in ["EUR", "USD", "GBP", "PLN", "CHF", "JPY", "BRL", "KWD"] {
                strings.append(texts.price(Money(minorUnits: 123_456_789, currency: Currency(iso: code)!)))
            }
            strings.append(Self.contact)
            strings.append(TradeNo("T-1").customerReference.text)
            for string in strings {
                for scalar in string.unicodeScalars
                where !(fonts.regular.hasGlyph(scalar) && fonts.bold.hasGlyph(scalar)) {
                    missing.append(
                        "\(language): U+\(String(scalar.value, radix: 16, uppercase: true)) in \"\(string)\"")
                }
            }
        }
        #expect(missing.isEmpty, "\(missing)")
    }

    @Test("the glyph check can fail: a character DejaVu does not have is reported")
    func glyphCheckCanFail() throws {
        let fonts = try FontSet(locator: FontLocator())
        #expect(!fonts.regular.hasGlyph("\u{4E2D}"))  // a CJK ideograph
        #expect(fonts.regular.hasGlyph("ł") && fonts.bold.hasGlyph("€"))
    }

    @Test(
        "on the smallest screens every text is drawn whole, legible, inside the screen and off the QR",
        arguments: ScreenLanguage.allCases)
    func longTextsFit(language: ScreenLanguage) throws {
        let texts = ScreenTexts(language: language)
        let renderer = try ScreenRenderer(texts: texts)
        for (width, height) in [(480, 320), (320, 480)] {
            let screenRect = Rect(x: 0, y: 0, width: width, height: height)
            for (name, screen, expected) in Self.screens(texts) {
                _ = try renderer.render(screen, width: width, height: height)
                let placed = renderer.lastPlaced
                let context = "\(language) \(width)x\(height) \(name)"
                #expect(
                    Self.squeezed(placed.map(\.text).joined()) == Self.squeezed(expected.joined()),
                    "\(context): a text was cut: \(placed.map(\.text))")
                for line in placed {
                    #expect(line.size >= ScreenRenderer.minimumSize, "\(context): \"\(line.text)\" at \(line.size) px")
                    #expect(
                        line.rect.x >= 0 && line.rect.y >= 0 && line.rect.maxX <= screenRect.maxX
                            && line.rect.maxY <= screenRect.maxY, "\(context): \"\(line.text)\" off the screen")
                    if let qr = Self.qrRect(screen, width: width, height: height) {
                        // Only a waiting message is drawn in the QR's place (no QR there then).
                        #expect(
                            !Self.intersects(line.rect, qr) || (Self.isWaiting(screen) && Self.contains(qr, line.rect)),
                            "\(context): \"\(line.text)\" over the QR")
                    }
                }
            }
        }
    }

    @Test(
        "the pay screen's QR is the same pixels in every language, and zbar reads it",
        arguments: ScreenLanguage.allCases)
    func payQRUntouched(language: ScreenLanguage) async throws {
        let (width, height) = (480, 320)
        let pay = Screen.pay(
            PayScreen(
                code: .text("https://pay.example/i/abc123"), product: Self.product,
                price: Money(minorUnits: 150, currency: Self.eur), secondsLeft: 65, notice: "api unreachable"))
        let english = try ScreenRenderer().render(pay, width: width, height: height)
        let local = try ScreenRenderer(texts: ScreenTexts(language: language)).render(pay, width: width, height: height)
        let qr = ScreenRenderer.payLayout(width: width, height: height).qr
        var differing = 0
        for y in qr.y..<qr.maxY {
            for x in qr.x..<qr.maxX where english[x, y] != local[x, y] { differing += 1 }
        }
        #expect(differing == 0, "text was drawn into the QR area")
        let path = try makeTempDirectory() + "/pay-\(language).png"
        let output = try PNGOutput(
            options: DisplayOptions(
                output: .png, width: width, height: height, pngPath: path, texts: ScreenTexts(language: language)))
        try await output.show(pay)
        #expect(try await zbarDecode(path) == "https://pay.example/i/abc123")
    }

    @Test("the pay screen writes the price as the language does")
    func priceInTheLanguage() throws {
        let renderer = try ScreenRenderer(texts: ScreenTexts(language: .de))
        _ = try renderer.render(
            .pay(
                PayScreen(
                    code: .text("x"), product: "Wasser", price: Money(minorUnits: 150, currency: Self.eur),
                    secondsLeft: 5)), width: 480, height: 320)
        #expect(renderer.lastPlaced.map(\.text).contains("1,50\u{00A0}€"))
        #expect(renderer.lastPlaced.map(\.text).joined(separator: " ").contains("Zum Bezahlen scannen"))
    }
}

/// The refund notice: that the money comes back, the reference to quote, whom to ask, and the
/// help page as a QR that phones read.
@Suite("Refund notice")
struct RefundNoticeTests {
    static let notice = RefundNotice(
        kind: .refundDue, customerReference: TradeNo("T-1").customerReference,
        contact: "+1 555 0100 · help@example.com", url: "https://help.example.com/refund?ref=6MA-WFR")

    @Test(
        "zbar reads the help page's QR; the reference and the contact are on the screen",
        arguments: [(480, 320), (320, 480), (800, 480)])
    func decodes(size: (Int, Int)) async throws {
        let (width, height) = size
        let path = try makeTempDirectory() + "/refund.png"
        let output = try PNGOutput(options: DisplayOptions(output: .png, width: width, height: height, pngPath: path))
        try await output.show(.refund(Self.notice))
        #expect(try await zbarDecode(path) == "https://help.example.com/refund?ref=6MA-WFR")
        let renderer = try ScreenRenderer()
        _ = try renderer.render(.refund(Self.notice), width: width, height: height)
        let drawn = renderer.lastPlaced.map(\.text).joined(separator: " ")
        #expect(drawn.contains(TradeNo("T-1").customerReference.text))
        #expect(drawn.contains("help@example.com"))
        #expect(drawn.contains("Your payment will be refunded."))
    }

    @Test("without a URL there is no QR, and the text still says it all")
    func withoutURL() async throws {
        var notice = Self.notice
        notice.url = nil
        let path = try makeTempDirectory() + "/refund.png"
        let output = try PNGOutput(options: DisplayOptions(output: .png, width: 480, height: 320, pngPath: path))
        try await output.show(.refund(notice))
        #expect(try await zbarDecode(path) == nil)
    }

    @Test("the terminal shows the same words and the QR, which decodes")
    func terminal() async throws {
        let qr = try QRCode.forScreen(Self.notice.url!)
        let lines = TerminalArt.lines(
            for: .refund(Self.notice), qr: qr, colors: false, texts: ScreenTexts(language: .es))
        #expect(
            lines.prefix(4) == [
                "== No dispensado ==", "Se le reembolsará el pago.",
                "Su referencia: \(TradeNo("T-1").customerReference.text)", "Contacto: +1 555 0100 · help@example.com",
            ])
        let image = rgbFromModules(modulesFromHalfBlocks(Array(lines.dropFirst(5))), scale: 4)
        let path = try makeTempDirectory() + "/refund-terminal.ppm"
        try writePPM(width: image.width, height: image.height, rgb: image.rgb, to: path)
        #expect(try await zbarDecode(path) == Self.notice.url)
    }

    @Test("what each kind tells the customer", arguments: RefundNotice.Kind.allCases)
    func kinds(kind: RefundNotice.Kind) {
        var notice = Self.notice
        notice.kind = kind
        let lines = TerminalArt.lines(for: .refund(notice), qr: nil, colors: false)
        switch kind {
        case .refundDue: #expect(lines.prefix(2) == ["== Not dispensed ==", "Your payment will be refunded."])
        case .dispenseUnknown:
            #expect(
                lines.prefix(2) == [
                    "== Something went wrong ==", "If nothing came out, your payment will be refunded.",
                ])
        case .unresolved:
            #expect(lines.prefix(2) == ["== Something went wrong ==", "If you paid, your payment will be refunded."])
        }
    }
}
