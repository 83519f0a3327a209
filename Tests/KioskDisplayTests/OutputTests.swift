import Foundation
import KioskCore
import Testing

@testable import KioskDisplay

@Suite("PNG output")
struct PNGOutputTests {
    @Test(
        "the pay screen's QR decodes back to the payload",
        arguments: [(320, 480), (480, 320), (800, 480), (1024, 600)], [Payloads.url, Payloads.lightning])
    func pngDecodes(size: (Int, Int), payload: String) async throws {
        let dir = try makeTempDirectory()
        let path = dir + "/screen.png"
        let output = try makeDisplayOutput(
            options: DisplayOptions(output: .png, width: size.0, height: size.1, pngPath: path))
        try await output.show(payScreen(payload))
        #expect(try await zbarDecode(path) == asDrawn(payload))
    }

    @Test("the file is replaced atomically and no temp file is left behind")
    func atomicReplace() async throws {
        let dir = try makeTempDirectory()
        let path = dir + "/screen.png"
        let output = PNGOutput.self
        let png = try output.init(options: DisplayOptions(output: .png, pngPath: path))
        try await png.show(payScreen("first"))
        try await png.show(payScreen("second"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["screen.png"])
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(try await zbarDecode(path) == "second")
    }

    @Test("a missing directory is an error naming the path")
    func missingDirectory() async throws {
        let path = try makeTempDirectory() + "/no/such/screen.png"
        let png = try PNGOutput(options: DisplayOptions(output: .png, pngPath: path))
        await #expect {
            try await png.show(.idle)
        } throws: { error in
            guard case DisplayError.pngWriteFailed(let failedPath, _, let code) = error else { return false }
            return failedPath == path && code == ENOENT && "\(error)".contains(path)
        }
    }

    @Test("every screen renders at every supported size", arguments: [(320, 480), (480, 320), (800, 480), (1024, 600)])
    func allScreensRender(size: (Int, Int)) throws {
        let renderer = try ScreenRenderer()
        let screens: [Screen] = [
            .idle, payScreen(Payloads.url), .paid(product: "Sparkling water 0.5 l"), .cancelled(reason: .timeout),
            .outOfService(reason: "The payment service cannot be reached"),
            .refund(
                RefundNotice(
                    kind: .refundDue, customerReference: TradeNo("T-1").customerReference,
                    contact: "+1 555 0100 · help@example.com", url: "https://help.example.com/r")),
        ]
        for screen in screens {
            let canvas = try renderer.render(screen, width: size.0, height: size.1)
            #expect(canvas.width == size.0 && canvas.height == size.1)
            // Text was drawn: more than two colours appear (background, ink and anti-aliasing).
            var colours = Set<RGB>()
            for y in stride(from: 0, to: canvas.height, by: 2) {
                for x in stride(from: 0, to: canvas.width, by: 2) { colours.insert(canvas[x, y]) }
            }
            #expect(colours.count > 2, "\(screen) looks blank")
        }
    }
}

@Suite("Framebuffer output")
struct FramebufferOutputTests {
    @Test("a frame written to a plain-file framebuffer decodes back to the payload", arguments: [16, 24, 32])
    func dumpDecodes(bitsPerPixel: Int) async throws {
        for (width, height) in [(480, 320), (320, 480)] {
            for payload in [Payloads.url, Payloads.lightning] {
                let dir = try makeTempDirectory()
                let device = dir + "/fb"
                let options = DisplayOptions(
                    output: .framebuffer, device: device, width: width, height: height, bitsPerPixel: bitsPerPixel)
                let output = try makeDisplayOutput(options: options)
                try await output.show(payScreen(payload))
                let dump = try [UInt8](Data(contentsOf: URL(fileURLWithPath: device)))
                #expect(dump.count == width * height * bitsPerPixel / 8)
                let rgb = rgbFromFramebufferDump(dump, width: width, height: height, bitsPerPixel: bitsPerPixel)
                try writePPM(width: width, height: height, rgb: rgb, to: dir + "/dump.ppm")
                #expect(
                    try await zbarDecode(dir + "/dump.ppm") == asDrawn(payload),
                    "\(bitsPerPixel) bpp \(width)x\(height)")
            }
        }
    }

    @Test("a plain file without geometry names the keys to set")
    func geometryMissing() throws {
        let device = try makeTempDirectory() + "/fb"
        _ = FileManager.default.createFile(atPath: device, contents: Data())
        let options = DisplayOptions(output: .framebuffer, device: device, width: 480)
        #expect(throws: DisplayError.framebufferGeometryMissing(device: device, missing: ["height", "bits_per_pixel"]))
        {
            try makeDisplayOutput(options: options)
        }
        let message = DisplayError.framebufferGeometryMissing(device: device, missing: ["height", "bits_per_pixel"])
            .description
        #expect(message.contains(device) && message.contains("bits_per_pixel"))
    }

    @Test("an unsupported depth is refused with the depth named")
    func unsupportedDepth() throws {
        let device = try makeTempDirectory() + "/fb"
        let options = DisplayOptions(output: .framebuffer, device: device, width: 480, height: 320, bitsPerPixel: 8)
        #expect(throws: DisplayError.framebufferUnsupportedFormat(device: device, bitsPerPixel: 8)) {
            try makeDisplayOutput(options: options)
        }
    }

    @Test("a device that does not exist is an open error naming it")
    func missingDevice() throws {
        let device = try makeTempDirectory() + "/fb9"
        #expect(throws: DisplayError.framebufferOpenFailed(device: device, errno: ENOENT)) {
            try makeDisplayOutput(options: DisplayOptions(output: .framebuffer, device: device))
        }
    }
}

@Suite("Fonts")
struct FontTests {
    @Test("a missing font is an error naming the file, the places searched and the package")
    func missingFont() throws {
        let empty = try makeTempDirectory()
        let locator = FontLocator(searchPaths: [empty])
        #expect(throws: DisplayError.fontNotFound(file: "DejaVuSans.ttf", searched: [empty])) {
            try makeDisplayOutput(
                options: DisplayOptions(output: .png, pngPath: empty + "/s.png"), fontLocator: locator)
        }
        let message = DisplayError.fontNotFound(file: "DejaVuSans.ttf", searched: [empty]).description
        #expect(message.contains("DejaVuSans.ttf") && message.contains(empty) && message.contains("fonts-dejavu-core"))
    }

    @Test("a file that is not a font is a load error naming it")
    func brokenFont() throws {
        let dir = try makeTempDirectory()
        _ = FileManager.default.createFile(atPath: dir + "/DejaVuSans.ttf", contents: Data("not a font".utf8))
        _ = FileManager.default.createFile(atPath: dir + "/DejaVuSans-Bold.ttf", contents: Data("not a font".utf8))
        #expect {
            try ScreenRenderer(fontLocator: FontLocator(searchPaths: [dir]))
        } throws: { error in
            guard case DisplayError.fontLoadFailed(let path, _) = error else { return false }
            return path == dir + "/DejaVuSans.ttf"
        }
    }
}

@Suite("Terminal output")
struct TerminalOutputTests {
    /// Runs `body` with a temp file's descriptor, then returns what was written to it.
    private func capture(_ body: (Int32) async throws -> Void) async throws -> String {
        let path = try makeTempDirectory() + "/out.txt"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        try await body(fd)
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    @Test("the half-block QR decodes back to the payload", arguments: [Payloads.url, Payloads.lightning])
    func halfBlocksDecode(payload: String) async throws {
        let text = try await capture { fd in
            try await TerminalOutput(fileDescriptor: fd, isTerminal: false).show(payScreen(payload))
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let qrLines = Array(lines.prefix { !$0.isEmpty })
        let modules = modulesFromHalfBlocks(qrLines)
        let image = rgbFromModules(modules, scale: 4)
        let dir = try makeTempDirectory()
        try writePPM(width: image.width, height: image.height, rgb: image.rgb, to: dir + "/terminal.ppm")
        #expect(try await zbarDecode(dir + "/terminal.ppm") == asDrawn(payload))
        #expect(text.contains("$2.50") && text.contains("Time left 1:35") && text.contains("Sparkling water"))
    }

    @Test("a countdown tick writes nothing when the output is not a tty")
    func tickSilentWhenNotATerminal() async throws {
        var afterFirst = ""
        let text = try await capture { fd in
            let terminal = TerminalOutput(fileDescriptor: fd, isTerminal: false)
            try await terminal.show(payScreen("abc", seconds: 60))
            afterFirst = String(
                decoding: try Data(contentsOf: URL(fileURLWithPath: "/proc/self/fd/\(fd)")), as: UTF8.self)
            try await terminal.show(payScreen("abc", seconds: 59))
        }
        #expect(!afterFirst.isEmpty)
        #expect(text == afterFirst)
    }

    @Test("a countdown tick on a tty rewrites only the status line")
    func tickUpdatesStatusLine() async throws {
        var afterFirst = ""
        let text = try await capture { fd in
            let terminal = TerminalOutput(fileDescriptor: fd, isTerminal: true)
            try await terminal.show(payScreen("abc", seconds: 60))
            afterFirst = String(
                decoding: try Data(contentsOf: URL(fileURLWithPath: "/proc/self/fd/\(fd)")), as: UTF8.self)
            try await terminal.show(payScreen("abc", seconds: 59))
        }
        #expect(afterFirst.hasPrefix("\u{1B}[H\u{1B}[2J"))
        #expect(text == afterFirst + "\r\u{1B}[2KTime left 0:59")
    }

    @Test("a new screen is drawn in full")
    func newScreenRedraws() async throws {
        let text = try await capture { fd in
            let terminal = TerminalOutput(fileDescriptor: fd, isTerminal: false)
            try await terminal.show(payScreen("abc", seconds: 60))
            try await terminal.show(.paid(product: "Sparkling water 0.5 l"))
        }
        #expect(text.hasSuffix("== Paid, thank you ==\nDispensing Sparkling water 0.5 l…\n"))
    }

    @Test("a too-long payload on the terminal is the same clear error")
    func tooLongOnTerminal() async throws {
        let payload = String(repeating: "b", count: 3000)
        _ = try await capture { fd in
            await #expect(throws: DisplayError.payloadTooLong(length: 3000, limit: 2331, errorCorrection: .M)) {
                try await TerminalOutput(fileDescriptor: fd, isTerminal: false).show(payScreen(payload))
            }
        }
    }
}

@Suite("Test screen")
struct TestScreenTests {
    @Test("drawTestScreen draws a decodable pay screen on the configured output")
    func testScreen() async throws {
        let path = try makeTempDirectory() + "/qr.png"
        try await drawTestScreen(options: DisplayOptions(output: .png, pngPath: path), payload: "https://example.com/t")
        #expect(try await zbarDecode(path) == "https://example.com/t")
    }
}

@Suite("Console graphics mode")
struct ConsoleGraphicsModeTests {
    @Test("the VT's cursor is hidden before the mode switch; a terminal that cannot switch is named")
    func hidesTheCursorFirst() throws {
        // A pty stands in for the VT: it shows the bytes written to it, and KDSETMODE fails there.
        // posix_openpt, unlockpt and ptsname are not in Swift's Glibc module (they need
        // _XOPEN_SOURCE): /dev/ptmx and the kernel's own ioctls do the same.
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        try #require(master >= 0)
        defer { close(master) }
        // TIOCSPTLCK = _IOW('T', 0x31, int), TIOCGPTN = _IOR('T', 0x30, unsigned int) (asm-generic,
        // x86_64 and arm64 alike); the macros do not import into Swift.
        var unlock: CInt = 0
        try #require(ioctl(master, UInt(0x4004_5431), &unlock) == 0)
        var number: CUnsignedInt = 0
        try #require(ioctl(master, UInt(0x8004_5430), &number) == 0)
        let path = "/dev/pts/\(number)"
        // The slave end stays open so that the master reads what was written (and raw, as written).
        let slave = open(path, O_RDWR | O_NOCTTY)
        try #require(slave >= 0)
        defer { close(slave) }
        var settings = termios()
        tcgetattr(slave, &settings)
        cfmakeraw(&settings)
        tcsetattr(slave, TCSANOW, &settings)

        let result = ConsoleGraphicsMode.enter(device: path)

        guard case .failure(let warning) = result else {
            Issue.record("KDSETMODE succeeded on a pty")
            return
        }
        #expect(warning.description.contains("KDSETMODE on \(path) failed"), "\(warning)")
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = read(master, &buffer, buffer.count)
        #expect(Array(buffer.prefix(max(0, count))) == Array("\u{1B}[?25l".utf8))
    }
}
