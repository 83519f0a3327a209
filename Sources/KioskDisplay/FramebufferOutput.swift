import CLinuxShims
import Glibc
import KioskCore

/// Draws screens on a Linux framebuffer (`/dev/fb0`, `/dev/fb1` for SPI panels), or on a plain
/// file standing in for one (tests, headless boards) with the geometry taken from the options.
///
/// Each frame is rendered completely in memory and written with one `pwrite`, so the panel never
/// shows half of an old screen and half of a new one for longer than the copy takes.
public actor FramebufferOutput: DisplayOutput {
    public nonisolated let device: String
    public nonisolated let geometry: FrameGeometry
    /// Where the visible frame starts in the device (non-zero when the driver pans).
    public nonisolated let byteOffset: Int
    /// Why the text console could still draw over the screen (nil when it cannot: the VT is in
    /// graphics mode while this output lives, or the device is a plain file). The daemon logs it.
    public nonisolated let consoleWarning: String?
    private let descriptor: FileDescriptor
    private let console: ConsoleGraphicsMode?
    private let consoleNote: @Sendable (String) -> Void
    private let renderer: ScreenRenderer

    /// - Parameters:
    ///   - consoleChanged: called (on a thread of its own) when another program switched the text
    ///     console back to text mode; the caller redraws the screen, which takes the console back.
    ///   - consoleNote: what taking the console back before a frame found, for the log.
    public init(
        options: DisplayOptions, fontLocator: FontLocator = FontLocator(),
        consoleChanged: (@Sendable () -> Void)? = nil, consoleNote: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(DisplayError) {
        let probe = try FramebufferDevice.open(options: options)
        self.device = options.device
        self.geometry = probe.geometry
        self.byteOffset = probe.byteOffset
        self.descriptor = probe.descriptor
        self.renderer = try ScreenRenderer(
            errorCorrection: options.errorCorrection, texts: options.texts, fontLocator: fontLocator)
        if probe.isDevice {
            switch ConsoleGraphicsMode.enter(onChange: consoleChanged) {
            case .success(let mode):
                self.console = mode
                self.consoleWarning = nil
            case .failure(let warning):
                self.console = nil
                self.consoleWarning = warning.description
            }
        } else {
            self.console = nil
            self.consoleWarning = nil
        }
        self.consoleNote = consoleNote
    }

    public func show(_ screen: Screen) throws(DisplayError) {
        if let note = console?.hold() { consoleNote(note) }
        let canvas = try renderer.render(screen, width: geometry.width, height: geometry.height)
        let frame = geometry.encode(canvas)
        try FramebufferDevice.write(frame, to: descriptor.raw, at: byteOffset, device: device)
    }
}

/// An owned file descriptor, closed when the last reference goes.
final class FileDescriptor: Sendable {
    let raw: Int32

    init(_ raw: Int32) { self.raw = raw }

    deinit { close(raw) }
}

/// The fbdev system calls, kept in one place.
enum FramebufferDevice {
    struct Probe {
        var descriptor: FileDescriptor
        var geometry: FrameGeometry
        var byteOffset: Int
        /// A real framebuffer device (not a plain file standing in for one).
        var isDevice = true
    }

    static func open(options: DisplayOptions) throws(DisplayError) -> Probe {
        let device = options.device
        var fd = Glibc.open(device, O_RDWR | O_CLOEXEC)
        if fd < 0, errno == ENOENT, options.width != nil, options.height != nil, options.bitsPerPixel != nil {
            // A geometry in the options means a plain file was intended: create it.
            fd = Glibc.open(device, O_RDWR | O_CLOEXEC | O_CREAT, 0o644)
        }
        guard fd >= 0 else { throw .framebufferOpenFailed(device: device, errno: errno) }
        let descriptor = FileDescriptor(fd)

        var variable = fb_var_screeninfo()
        if ioctl(fd, UInt(FBIOGET_VSCREENINFO), &variable) != 0 {
            let error = errno
            var status = stat()
            let isRegularFile = fstat(fd, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
            guard isRegularFile, error == ENOTTY else {
                throw .framebufferQueryFailed(device: device, request: "FBIOGET_VSCREENINFO", errno: error)
            }
            return Probe(
                descriptor: descriptor, geometry: try plainFileGeometry(options), byteOffset: 0, isDevice: false)
        }
        var fixed = fb_fix_screeninfo()
        guard ioctl(fd, UInt(FBIOGET_FSCREENINFO), &fixed) == 0 else {
            throw .framebufferQueryFailed(device: device, request: "FBIOGET_FSCREENINFO", errno: errno)
        }
        func channel(_ field: fb_bitfield) -> PixelFormat.Channel {
            PixelFormat.Channel(offset: Int(field.offset), length: Int(field.length))
        }
        let format = PixelFormat(
            bitsPerPixel: Int(variable.bits_per_pixel), red: channel(variable.red), green: channel(variable.green),
            blue: channel(variable.blue), transparency: channel(variable.transp))
        guard format.isSupported, variable.grayscale == 0 else {
            throw .framebufferUnsupportedFormat(device: device, bitsPerPixel: format.bitsPerPixel)
        }
        let stride = Int(fixed.line_length)
        let geometry = FrameGeometry(
            width: Int(variable.xres), height: Int(variable.yres), stride: stride, format: format)
        let offset = Int(variable.yoffset) * stride + Int(variable.xoffset) * format.bytesPerPixel
        return Probe(descriptor: descriptor, geometry: geometry, byteOffset: offset)
    }

    /// The geometry of a plain file from the options, laid out as drivers report for that depth.
    static func plainFileGeometry(_ options: DisplayOptions) throws(DisplayError) -> FrameGeometry {
        var missing: [String] = []
        if options.width == nil { missing.append("width") }
        if options.height == nil { missing.append("height") }
        if options.bitsPerPixel == nil { missing.append("bits_per_pixel") }
        guard let width = options.width, let height = options.height, let bpp = options.bitsPerPixel else {
            throw .framebufferGeometryMissing(device: options.device, missing: missing)
        }
        guard let format = PixelFormat.standard(bitsPerPixel: bpp) else {
            throw .framebufferUnsupportedFormat(device: options.device, bitsPerPixel: bpp)
        }
        guard width >= 64, height >= 64 else { throw .invalidGeometry(width: width, height: height) }
        return FrameGeometry(width: width, height: height, stride: width * format.bytesPerPixel, format: format)
    }

    static func write(_ frame: [UInt8], to fd: Int32, at offset: Int, device: String) throws(DisplayError) {
        var written = 0
        let failure: Int32? = frame.withUnsafeBytes { bytes in
            while written < bytes.count {
                let n = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(offset + written))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { return ENOSPC }
                written += n
            }
            return nil
        }
        if let failure {
            throw .framebufferWriteFailed(device: device, errno: failure, written: written, expected: frame.count)
        }
    }
}
