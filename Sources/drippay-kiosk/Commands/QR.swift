import ArgumentParser
import KioskConfig
import KioskCore
import KioskDisplay

/// `drippay-kiosk qr`: draws a test pay screen so a technician can check the display and scan it.
struct QR: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qr",
        abstract: "Draw a test pay screen with a QR code for TEXT on the display.",
        discussion: """
            Scan the code with a phone: it must read back TEXT exactly. With --config (or
            DRIPPAY_KIOSK_CONFIG) the machine's own [display] settings are used; any option
            given here overrides them. Examples:
              drippay-kiosk qr --config /etc/drippay-kiosk/kiosk.toml "https://example.com"
              drippay-kiosk qr --output terminal "https://example.com"
              drippay-kiosk qr --output png --png-path /tmp/screen.png "lnbc1..."
              drippay-kiosk qr --output framebuffer --device /dev/fb1 "hello"
            A plain file can stand in for a framebuffer with --width, --height and --bpp.
            """)

    @Argument(help: "The text to encode in the QR code.")
    var text: String

    /// The daemon's config file: draw as its [display] says.
    @OptionGroup var config: ConfigOption

    @Option(help: "Where to draw: framebuffer, png, terminal or none (default: the config's, else terminal).")
    var output: DisplayOptions.Output?

    @Option(help: "The framebuffer device, or a plain file standing in for one (default /dev/fb0).")
    var device: String?

    @Option(help: "Where the png output writes its image (default /tmp/drippay-kiosk-qr.png).")
    var pngPath: String?

    @Option(help: "Width in pixels (png image, or a plain-file framebuffer).")
    var width: Int?

    @Option(help: "Height in pixels (png image, or a plain-file framebuffer).")
    var height: Int?

    @Option(name: .customLong("bpp"), help: "Bits per pixel of a plain-file framebuffer: 16, 24 or 32.")
    var bitsPerPixel: Int?

    @Option(help: "QR error correction: L, M, Q or H (default M).")
    var errorCorrection: QRErrorCorrection?

    func run() async throws {
        let configured = try config.load()?.display
        var options = configured ?? DisplayOptions(output: .terminal, pngPath: "/tmp/drippay-kiosk-qr.png")
        if let output { options.output = output }
        if let device { options.device = device }
        if let pngPath { options.pngPath = pngPath }
        if let width { options.width = width }
        if let height { options.height = height }
        if let bitsPerPixel { options.bitsPerPixel = bitsPerPixel }
        if let errorCorrection { options.errorCorrection = errorCorrection }
        // A DisplayError's description says what to fix; ArgumentParser prints it as is.
        try await drawTestScreen(options: options, payload: text)
        if options.output == .terminal { print("") }
        if options.output == .png { print("wrote \(options.pngPath)") }
    }
}

extension DisplayOptions.Output: ExpressibleByArgument {}
extension QRErrorCorrection: ExpressibleByArgument {}
