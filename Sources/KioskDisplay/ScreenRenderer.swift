import KioskCore

/// Draws a `Screen` into a `Canvas` of any size: portrait puts the QR above the text, landscape
/// beside it. Owns FreeType faces, so it is not `Sendable`; each output keeps one inside its actor.
public final class ScreenRenderer {
    public let errorCorrection: QRErrorCorrection
    private let fonts: FontSet
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
    }

    /// Loads DejaVu Sans and DejaVu Sans Bold through `fontLocator`.
    public init(errorCorrection: QRErrorCorrection = .M, fontLocator: FontLocator = FontLocator()) throws(DisplayError)
    {
        self.errorCorrection = errorCorrection
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
        switch screen {
        case .pay(let pay):
            return try renderPay(pay, width: width, height: height)
        case .idle(let message):
            return try renderMessage(
                heading: message, body: nil, background: Palette.idle, width: width, height: height)
        case .paid(let product):
            return try renderMessage(
                heading: ScreenText.paidHeading, body: ScreenText.dispensing(product), background: Palette.paid,
                width: width, height: height)
        case .cancelled(let reason):
            return try renderMessage(
                heading: ScreenText.cancelledHeading, body: reason, background: Palette.cancelled, width: width,
                height: height)
        case .outOfService(let reason):
            return try renderMessage(
                heading: ScreenText.outOfServiceHeading, body: reason, background: Palette.outOfService,
                width: width, height: height)
        }
    }

    /// Where the QR and the text go on a `width` x `height` screen.
    public static func payLayout(width: Int, height: Int) -> (qr: Rect, text: Rect) {
        if width >= height {
            // Landscape: the QR is a square on the left using the full height, text on the right.
            let side = min(height, width * 2 / 3)
            return (
                Rect(x: 0, y: (height - side) / 2, width: side, height: side),
                Rect(x: side, y: 0, width: width - side, height: height)
            )
        }
        // Portrait: the QR on top using the full width, text below.
        let side = min(width, height * 2 / 3)
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
            let wrapped = try TextLayout.wrap(message, font: fonts.bold, size: size, width: box.width - 8, maxLines: 4)
            try TextLayout.drawBlock(
                wrapped.map { TextLine(text: $0, font: fonts.bold, size: size, color: Palette.muted) },
                in: box.inset(by: 4),
                centered: true, on: &canvas)
        }
        let unit = min(width, height)
        let pad = max(4, unit / 40)
        var box = layout.text.inset(by: pad)
        if let notice = pay.notice {
            // The notice takes the bottom of the text area, never the QR's.
            let band = max(box.height * 2 / 5, 1)
            try drawNotice(
                notice, in: Rect(x: box.x, y: box.y + box.height - band, width: box.width, height: band), unit: unit,
                on: &canvas)
            box = Rect(x: box.x, y: box.y, width: box.width, height: box.height - band - pad)
        }
        let price = ScreenText.price(pay.price)
        let productSize = max(10, unit / 16)
        let productLines = try TextLayout.wrap(
            pay.product, font: fonts.regular, size: productSize, width: box.width, maxLines: 2)
        var lines: [TextLine] = [
            TextLine(
                text: ScreenText.scanToPay, font: fonts.bold,
                size: try TextLayout.fittingSize(
                    ScreenText.scanToPay, font: fonts.bold, maxSize: max(10, unit / 14), width: box.width),
                color: Palette.muted)
        ]
        lines += productLines.map { TextLine(text: $0, font: fonts.regular, size: productSize, color: Palette.ink) }
        lines.append(
            TextLine(
                text: price, font: fonts.bold,
                size: try TextLayout.fittingSize(price, font: fonts.bold, maxSize: max(12, unit / 8), width: box.width),
                color: Palette.priceInk))
        let timeLeft = ScreenText.timeLeft(pay)
        lines.append(
            TextLine(
                text: timeLeft, font: fonts.regular,
                size: try TextLayout.fittingSize(timeLeft, font: fonts.regular, maxSize: productSize, width: box.width),
                color: Palette.ink))
        try TextLayout.drawBlock(lines, in: box, centered: true, on: &canvas)
        return canvas
    }

    /// The pay screen's notice: dark text on an amber band filling `band` (a step of its own,
    /// bounded by `band`).
    private func drawNotice(_ notice: String, in band: Rect, unit: Int, on canvas: inout Canvas) throws(DisplayError) {
        canvas.fill(band, with: Palette.notice)
        let inner = band.inset(by: max(2, unit / 80))
        let size = max(9, unit / 22)
        let maxLines = max(1, min(4, inner.height / max(1, size * 5 / 4)))
        let wrapped = try TextLayout.wrap(notice, font: fonts.bold, size: size, width: inner.width, maxLines: maxLines)
        try TextLayout.drawBlock(
            wrapped.map { TextLine(text: $0, font: fonts.bold, size: size, color: Palette.ink) }, in: inner,
            centered: true,
            on: &canvas)
    }

    private func renderMessage(
        heading: String, body: String?, background: RGB, width: Int, height: Int
    ) throws(DisplayError) -> Canvas {
        var canvas = Canvas(width: width, height: height, background: background)
        let unit = min(width, height)
        let box = Rect(x: 0, y: 0, width: width, height: height).inset(by: max(8, unit / 20))
        let headingSize = max(12, unit / 9)
        let headingLines = try TextLayout.wrap(
            heading, font: fonts.bold, size: headingSize, width: box.width, maxLines: 2)
        var lines = headingLines.map { TextLine(text: $0, font: fonts.bold, size: headingSize, color: .white) }
        if let body, !body.isEmpty {
            let bodySize = max(10, unit / 16)
            lines += try TextLayout.wrap(body, font: fonts.regular, size: bodySize, width: box.width, maxLines: 4)
                .map { TextLine(text: $0, font: fonts.regular, size: bodySize, color: .white) }
        }
        try TextLayout.drawBlock(lines, in: box, centered: true, on: &canvas)
        return canvas
    }
}
