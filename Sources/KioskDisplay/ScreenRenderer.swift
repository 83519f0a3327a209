import KioskCore

/// Draws a `Screen` into a `Canvas` of any size: portrait puts the QR above the text, landscape
/// beside it. Owns FreeType faces, so it is not `Sendable`; each output keeps one inside its actor.
public final class ScreenRenderer {
    public let errorCorrection: QRErrorCorrection
    /// The words drawn: the machine's language and the operator's overrides.
    public let texts: ScreenTexts
    let fonts: FontSet
    /// Where each line of the last screen rendered went (layout tests read it).
    private(set) var lastPlaced: [PlacedText] = []
    /// The last QR encoded: countdown ticks redraw the same payload every second.
    private var lastQR: (payload: String, code: QRCode)?

    /// Screen colours, chosen for contrast on cheap TFT panels.
    enum Palette {
        static let ink = RGB(0x1A, 0x1A, 0x1A)
        static let muted = RGB(0x55, 0x55, 0x55)
        static let priceInk = RGB(0x0B, 0x3D, 0x91)
        static let idle = RGB(0x12, 0x35, 0x5B)
        static let paid = RGB(0x1E, 0x7D, 0x32)
        static let cancelled = RGB(0xB3, 0x5C, 0x00)
        static let outOfService = RGB(0x44, 0x44, 0x44)
        static let notice = RGB(0xFF, 0xE0, 0x82)
        static let refund = RGB(0xB3, 0x26, 0x1E)
    }

    /// The smallest text size drawn (pixels): below it a customer cannot read a panel at arm's length.
    static let minimumSize = 11

    /// Loads DejaVu Sans and DejaVu Sans Bold through `fontLocator`.
    public init(
        errorCorrection: QRErrorCorrection = .M, texts: ScreenTexts = ScreenTexts(),
        fontLocator: FontLocator = FontLocator()
    ) throws(DisplayError) {
        self.errorCorrection = errorCorrection
        self.texts = texts
        self.fonts = try FontSet(locator: fontLocator)
    }

    /// The QR for `payload`, re-encoded only when the payload changes.
    public func qrCode(for payload: String) throws(DisplayError) -> QRCode {
        if let lastQR, lastQR.payload == payload { return lastQR.code }
        let code = try QRCode.forScreen(payload, errorCorrection: errorCorrection)
        lastQR = (payload, code)
        return code
    }

    /// `screen` drawn on a fresh `width` x `height` canvas (at least 64x64).
    public func render(_ screen: Screen, width: Int, height: Int) throws(DisplayError) -> Canvas {
        guard width >= 64, height >= 64 else { throw .invalidGeometry(width: width, height: height) }
        lastPlaced = []
        switch screen {
        case .pay(let pay):
            return try renderPay(pay, width: width, height: height)
        case .idle:
            return try renderMessage(
                heading: texts[.idleMessage], body: nil, background: Palette.idle, width: width, height: height)
        case .paid(let product):
            return try renderMessage(
                heading: texts[.paidHeading], body: texts.dispensing(product), background: Palette.paid,
                width: width, height: height)
        case .cancelled(let reason):
            return try renderMessage(
                heading: texts[.cancelledHeading], body: texts.cancelled(reason), background: Palette.cancelled,
                width: width, height: height)
        case .outOfService:
            return try renderMessage(
                heading: texts[.outOfServiceHeading], body: texts[.outOfServiceBody],
                background: Palette.outOfService, width: width, height: height)
        case .refund(let notice):
            return try renderRefund(notice, width: width, height: height)
        }
    }

    /// Where the QR and the text go on a `width` x `height` screen.
    public static func payLayout(width: Int, height: Int) -> (qr: Rect, text: Rect) {
        qrBesideText(width: width, height: height, numerator: 2, denominator: 3)
    }

    /// A square QR beside the text: in landscape on the left, using the full height; in portrait
    /// on top, using the full width. Its side is at most numerator/denominator of the long side.
    private static func qrBesideText(
        width: Int, height: Int, numerator: Int, denominator: Int
    ) -> (qr: Rect, text: Rect) {
        if width >= height {
            let side = min(height, width * numerator / denominator)
            return (
                Rect(x: 0, y: (height - side) / 2, width: side, height: side),
                Rect(x: side, y: 0, width: width - side, height: height)
            )
        }
        let side = min(width, height * numerator / denominator)
        return (
            Rect(x: (width - side) / 2, y: 0, width: side, height: side),
            Rect(x: 0, y: side, width: width, height: height - side)
        )
    }

    private func renderPay(_ pay: PayScreen, width: Int, height: Int) throws(DisplayError) -> Canvas {
        var canvas = Canvas(width: width, height: height, background: .white)
        let layout = ScreenRenderer.payLayout(width: width, height: height)
        switch pay.code {
        case .text(let text):
            try canvas.draw(try qrCode(for: text), in: layout.qr)
        case .picture(let image):
            try canvas.draw(image, in: layout.qr)
        case .waiting(let message):
            let unit = min(layout.qr.width, layout.qr.height)
            let box = layout.qr.inset(by: max(8, unit / 10))
            canvas.fill(box, with: RGB(0xEE, 0xEE, 0xEE))
            let size = max(10, unit / 14)
            let lines = try TextLayout.fitted(
                texts[message], font: fonts.bold, maxSize: size, minSize: min(size, Self.minimumSize),
                width: box.width - 8, maxLines: 4, color: Palette.muted)
            lastPlaced += try TextLayout.drawBlock(
                lines, in: box.inset(by: 4), centered: true, minSize: Self.minimumSize, on: &canvas)
        }
        let unit = min(width, height)
        let pad = max(4, unit / 40)
        var box = layout.text.inset(by: pad)
        if pay.notice != nil {
            // The notice takes the bottom of the text area, never the QR's: as much as its
            // lines need, at most two fifths, so the price and the countdown keep a legible size.
            let band = try drawNotice(in: box, unit: unit, on: &canvas)
            box = Rect(x: box.x, y: box.y, width: box.width, height: max(1, box.height - band - pad))
        }
        let price = texts.price(pay.price)
        let productSize = max(10, unit / 16)
        let minimum = Self.minimumSize
        var lines = try TextLayout.fitted(
            texts[.scanToPay], font: fonts.bold, maxSize: max(minimum, unit / 14), minSize: minimum, width: box.width,
            maxLines: 2, color: Palette.muted)
        lines += try TextLayout.fitted(
            pay.product, font: fonts.regular, maxSize: productSize, minSize: minimum, width: box.width, maxLines: 2,
            color: Palette.ink)
        lines.append(
            TextLine(
                text: price, font: fonts.bold,
                size: try TextLayout.fittingSize(
                    price, font: fonts.bold, maxSize: max(12, unit / 8), minSize: minimum, width: box.width),
                color: Palette.priceInk))
        lines += try TextLayout.fitted(
            texts.timeLeft(pay), font: fonts.regular, maxSize: productSize, minSize: minimum, width: box.width,
            maxLines: 2, color: Palette.ink)
        lastPlaced += try TextLayout.drawBlock(lines, in: box, centered: true, minSize: Self.minimumSize, on: &canvas)
        return canvas
    }

    /// The pay screen's notice: dark text on an amber band at the bottom of `box`, as tall as its
    /// lines (at most two fifths of `box`). Returns the band's height.
    private func drawNotice(in box: Rect, unit: Int, on canvas: inout Canvas) throws(DisplayError) -> Int {
        let inset = max(2, unit / 80)
        let lines = try TextLayout.fitted(
            texts[.goingOutOfService], font: fonts.bold, maxSize: max(Self.minimumSize, unit / 22),
            minSize: Self.minimumSize, width: box.width - 2 * inset, maxLines: 4, color: Palette.ink)
        let band = min(max(box.height * 2 / 5, 1), try TextLayout.blockHeight(lines) + 2 * inset)
        let rect = Rect(x: box.x, y: box.y + box.height - band, width: box.width, height: band)
        canvas.fill(rect, with: Palette.notice)
        lastPlaced += try TextLayout.drawBlock(
            lines, in: rect.inset(by: inset), centered: true, minSize: Self.minimumSize, on: &canvas)
        return band
    }

    private func renderMessage(
        heading: String, body: String?, background: RGB, width: Int, height: Int
    ) throws(DisplayError) -> Canvas {
        var canvas = Canvas(width: width, height: height, background: background)
        let unit = min(width, height)
        let box = Rect(x: 0, y: 0, width: width, height: height).inset(by: max(8, unit / 20))
        var lines = try TextLayout.fitted(
            heading, font: fonts.bold, maxSize: max(12, unit / 9), minSize: Self.minimumSize, width: box.width,
            maxLines: 2, color: .white)
        if let body, !body.isEmpty {
            lines += try TextLayout.fitted(
                body, font: fonts.regular, maxSize: max(10, unit / 16), minSize: Self.minimumSize, width: box.width,
                maxLines: 4, color: .white)
        }
        lastPlaced += try TextLayout.drawBlock(lines, in: box, centered: true, minSize: Self.minimumSize, on: &canvas)
        return canvas
    }

    /// Where the support QR and the text go on the refund notice: a smaller QR than the pay
    /// screen's (a short URL, and the words matter more here), beside or above the text.
    public static func refundLayout(width: Int, height: Int, withQR: Bool) -> (qr: Rect?, text: Rect) {
        guard withQR else { return (nil, Rect(x: 0, y: 0, width: width, height: height)) }
        let layout = qrBesideText(width: width, height: height, numerator: 2, denominator: 5)
        return (layout.qr, layout.text)
    }

    /// The refund notice: what happened, that the money comes back, the reference to quote, whom
    /// to ask, and the help page's QR when there is one.
    private func renderRefund(_ notice: RefundNotice, width: Int, height: Int) throws(DisplayError) -> Canvas {
        var canvas = Canvas(width: width, height: height, background: .white)
        let layout = Self.refundLayout(width: width, height: height, withQR: notice.url != nil)
        if let url = notice.url, let qr = layout.qr {
            try canvas.draw(try qrCode(for: url), in: qr)
        }
        let unit = min(width, height)
        let box = layout.text.inset(by: max(6, unit / 30))
        let minimum = Self.minimumSize
        var lines = try TextLayout.fitted(
            texts.heading(notice.kind), font: fonts.bold, maxSize: max(minimum, unit / 11), minSize: minimum,
            width: box.width, maxLines: 2, color: Palette.refund)
        lines += try TextLayout.fitted(
            texts.body(notice.kind), font: fonts.regular, maxSize: max(minimum, unit / 17), minSize: minimum,
            width: box.width, maxLines: 4, color: Palette.ink)
        lines += try TextLayout.fitted(
            texts.customerReference(notice), font: fonts.bold, maxSize: max(minimum, unit / 14), minSize: minimum,
            width: box.width, maxLines: 2, color: Palette.priceInk)
        if let contact = texts.contact(notice) {
            lines += try TextLayout.fitted(
                contact, font: fonts.regular, maxSize: max(minimum, unit / 19), minSize: minimum, width: box.width,
                maxLines: 3, color: Palette.ink)
        }
        lastPlaced += try TextLayout.drawBlock(lines, in: box, centered: true, minSize: Self.minimumSize, on: &canvas)
        return canvas
    }
}
