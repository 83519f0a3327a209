import Glibc
import KioskCore

/// Draws screens as text: the QR with Unicode half blocks plus the product, price and countdown.
///
/// The whole screen is written only when it changes. A countdown tick rewrites just the status
/// line on a tty and writes nothing when the output is a pipe or a file, so logs stay readable.
public actor TerminalOutput: DisplayOutput {
    private let fd: Int32
    private let isTerminal: Bool
    private let errorCorrection: QRErrorCorrection
    private let texts: ScreenTexts
    private var lastScreen: Screen?
    private var lastQR: (payload: String, code: QRCode)?

    /// - Parameters:
    ///   - fileDescriptor: where to write (not closed by this output); stdout by default.
    ///   - isTerminal: whether `fileDescriptor` is a tty; asked with `isatty` when nil. A tty gets
    ///     colours (dark modules on white) and in-place countdown updates.
    ///   - texts: the words, in the machine's language.
    public init(
        fileDescriptor: Int32 = STDOUT_FILENO, isTerminal: Bool? = nil, errorCorrection: QRErrorCorrection = .M,
        texts: ScreenTexts = ScreenTexts()
    ) {
        self.texts = texts
        self.fd = fileDescriptor
        self.isTerminal = isTerminal ?? (isatty(fileDescriptor) == 1)
        self.errorCorrection = errorCorrection
    }

    public func show(_ screen: Screen) throws(DisplayError) {
        if case .pay(let new) = screen, case .pay(let old)? = lastScreen, new.isTick(of: old) {
            guard isTerminal, new != old else { return }
            // Carriage return + erase line: the cursor sits at the end of the status line.
            try emit("\r\u{1B}[2K" + texts.timeLeft(new))
            lastScreen = screen
            return
        }
        var qr: QRCode?
        if case .refund(let notice) = screen, let text = notice.url {
            qr = try QRCode.forScreen(text, errorCorrection: errorCorrection)
        }
        if case .pay(let pay) = screen, case .text(let text) = pay.code {
            if let lastQR, lastQR.payload == text {
                qr = lastQR.code
            } else {
                let code = try QRCode.forScreen(text, errorCorrection: errorCorrection)
                lastQR = (text, code)
                qr = code
            }
        }
        let lines = TerminalArt.lines(for: screen, qr: qr, colors: isTerminal, texts: texts)
        if isTerminal {
            // Home + clear, then the screen with the status line last and no newline after it.
            try emit("\u{1B}[H\u{1B}[2J" + lines.joined(separator: "\n"))
        } else {
            try emit(lines.joined(separator: "\n") + "\n")
        }
        // Only a screen that was fully written counts as shown: after a failure the next one redraws.
        lastScreen = screen
    }

    private func emit(_ text: String) throws(DisplayError) {
        if let code = Array(text.utf8).withUnsafeBytes({ FileDescriptorWrite.all($0, to: fd) }) {
            throw .terminalWriteFailed(errno: code)
        }
    }
}

/// The text form of each screen (pure: tested without a terminal).
public enum TerminalArt {
    /// The QR with a 4-module quiet zone, two module rows per text row: `▀` top dark, `▄` bottom
    /// dark, `█` both, space neither. With `colors`, each line is wrapped in black-on-white so dark
    /// modules stay dark on a dark terminal theme.
    public static func qrLines(_ code: QRCode, colors: Bool) -> [String] {
        let quiet = QRLayout.quietZone
        let range = -quiet..<(code.size + quiet)
        var lines: [String] = []
        var y = -quiet
        while y < code.size + quiet {
            var line = colors ? "\u{1B}[30;107m" : ""
            for x in range {
                switch (code.isDark(x, y), code.isDark(x, y + 1)) {
                case (true, true): line += "█"
                case (true, false): line += "▀"
                case (false, true): line += "▄"
                case (false, false): line += " "
                }
            }
            if colors { line += "\u{1B}[0m" }
            lines.append(line)
            y += 2
        }
        return lines
    }

    static func payLine(_ code: PayCode, texts: ScreenTexts) -> String {
        switch code {
        case .text(let text): return "Payload: " + text
        case .picture(let image):
            return "Payload: the invoice's own QR picture (\(image.width)x\(image.height)), drawn as it is"
        case .waiting(let message): return texts[message]
        }
    }

    /// All lines of `screen` in `texts`' words; for a pay screen `qr` is its encoded payload and
    /// the last line is the countdown status line; for a refund notice, its help page's QR.
    public static func lines(
        for screen: Screen, qr: QRCode?, colors: Bool, texts: ScreenTexts = ScreenTexts()
    ) -> [String] {
        switch screen {
        case .pay(let pay):
            var lines = qr.map { qrLines($0, colors: colors) } ?? []
            lines += [
                "",
                texts[.scanToPay] + ": " + pay.product,
                texts[.priceLabel] + ": " + texts.price(pay.price),
                payLine(pay.code, texts: texts),
            ]
            if pay.notice != nil { lines.append(texts[.noticeLabel] + ": " + texts[.goingOutOfService]) }
            // The countdown stays the last line: ticks rewrite it in place.
            lines.append(texts.timeLeft(pay))
            return lines
        case .idle:
            return ["== " + texts[.idleMessage] + " =="]
        case .paid(let product):
            return ["== " + texts[.paidHeading] + " ==", texts.dispensing(product)]
        case .cancelled(let reason):
            return ["== " + texts[.cancelledHeading] + " ==", texts.cancelled(reason)]
        case .outOfService:
            return ["== " + texts[.outOfServiceHeading] + " ==", texts[.outOfServiceBody]]
        case .refund(let notice):
            var lines = [
                "== " + texts.heading(notice.kind) + " ==", texts.body(notice.kind), texts.customerReference(notice),
            ]
            if let contact = texts.contact(notice) { lines.append(contact) }
            if let qr { lines += [""] + qrLines(qr, colors: colors) }
            return lines
        }
    }
}
