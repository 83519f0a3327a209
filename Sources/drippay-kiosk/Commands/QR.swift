import ArgumentParser
import KioskCore
import KioskDisplay

/// `drippay-kiosk qr`: draws a test pay screen so a technician can check the display and scan it.
struct QR: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "Draw a test pay screen with a QR code for TEXT on the display.",
        discussion: """
            Scan the code with a phone: it must read back TEXT exactly. Examples:
              drippay-kiosk qr --output terminal "https://example.com"
              drippay-kiosk qr --output png --png-path /tmp/screen.png "lnbc1..."
              drippay-kiosk qr --output framebuffer --device /dev/fb1 "hello"
            A plain file can stand in for a framebuffer with --width, --height and --bpp.
            """)

    @Argument(help: "The text to encode in the QR code.")
    var text: String

    @Option(help: "Where to draw: framebuffer, png, terminal or none.")
    var output: DisplayOptions.Output = .terminal

    @Option(help: "The framebuffer device, or a plain file standing in for one.")
    var device: String = "/dev/fb0"

    @Option(help: "Where the png output writes its image.")
    var pngPath: String = "/tmp/drippay-kiosk-qr.png"

    @Option(help: "Width in pixels (png image, or a plain-file framebuffer).")
    var width: Int?

    @Option(help: "Height in pixels (png image, or a plain-file framebuffer).")
    var height: Int?

    @Option(name: .customLong("bpp"), help: "Bits per pixel of a plain-file framebuffer: 16, 24 or 32.")
    var bitsPerPixel: Int?

    @Option(help: "QR error correction: L, M, Q or H.")
    var errorCorrection: QRErrorCorrection = .M

    func run() async throws {
        let options = DisplayOptions(
            output: output, device: device, width: width, height: height, bitsPerPixel: bitsPerPixel, pngPath: pngPath,
            errorCorrection: errorCorrection)
        // A DisplayError's description says what to fix; ArgumentParser prints it as is.
        try await drawTestScreen(options: options, payload: text)
        if output == .terminal { print("") }
        if output == .png { print("wrote \(pngPath)") }
    }
}

extension DisplayOptions.Output: ExpressibleByArgument {}
extension QRErrorCorrection: ExpressibleByArgument {}
