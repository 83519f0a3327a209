import CPNG
import Glibc
import KioskCore

/// Writes each screen as a PNG file, replacing the previous one atomically (temp file in the same
/// directory, fsync, rename), so a kiosk browser or image viewer never reads half a file.
public actor PNGOutput: DisplayOutput {
    public nonisolated let path: String
    public nonisolated let width: Int
    public nonisolated let height: Int
    private let renderer: ScreenRenderer

    /// The image is `width` x `height` from the options, or 480x320 when they are not set.
    public init(options: DisplayOptions, fontLocator: FontLocator = FontLocator()) throws(DisplayError) {
        self.path = options.pngPath
        self.width = options.width ?? 480
        self.height = options.height ?? 320
        self.renderer = try ScreenRenderer(
            errorCorrection: options.errorCorrection, texts: options.texts, fontLocator: fontLocator)
    }

    public func show(_ screen: Screen) throws(DisplayError) {
        let canvas = try renderer.render(screen, width: width, height: height)
        let data = try PNGEncoder.encode(canvas, path: path)
        try AtomicFile.write(data, to: path)
    }
}

/// libpng's simplified write API: no setjmp/longjmp crosses Swift frames.
public enum PNGEncoder {
    /// `canvas` as PNG bytes (8-bit RGB). `path` only names the destination in errors.
    ///
    /// One pass into a buffer of libpng's worst-case size (`PNG_IMAGE_PNG_SIZE_MAX`), with
    /// `PNG_IMAGE_FLAG_FAST` (no row filters, a fast zlib level): screens are flat colour, so the
    /// file stays small, and a countdown frame costs a fraction of the default compression's CPU.
    public static func encode(_ canvas: Canvas, path: String = "<memory>") throws(DisplayError) -> [UInt8] {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(canvas.width)
        image.height = UInt32(canvas.height)
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR)
        image.flags = UInt32(PNG_IMAGE_FLAG_FAST)
        let stride = Int32(canvas.width * 3)
        var size = png_alloc_size_t(maximumSize(width: canvas.width, height: canvas.height))
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = output.withUnsafeMutableBytes { out in
            canvas.pixels.withUnsafeBytes { pixels in
                png_image_write_to_memory(&image, out.baseAddress, &size, 0, pixels.baseAddress, stride, nil)
            }
        }
        guard written != 0 else { throw .pngEncodingFailed(path: path, message: message(&image)) }
        png_image_free(&image)
        return Array(output.prefix(Int(size)))
    }

    /// libpng's PNG_IMAGE_PNG_SIZE_MAX for 8-bit RGB without a colour map (the C macro is not
    /// importable): chunk overhead + IDAT headers + zlib's deflate bound of the filtered rows.
    static func maximumSize(width: Int, height: Int) -> Int {
        let data = (width * 3 + 1) * height
        let compressed = data + ((data + 7) >> 3) + ((data + 63) >> 6) + 11
        return (8 + 25 + 16 + 44 + 12 + 12) + 12 * (compressed / 8192 + 1) + compressed
    }

    private static func message(_ image: inout png_image) -> String {
        let text = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        png_image_free(&image)
        return text.isEmpty ? "unknown libpng error" : text
    }
}

/// Replace-a-file-atomically: write a temp file beside the target, fsync it, rename over the target.
enum AtomicFile {
    static func write(_ data: [UInt8], to path: String) throws(DisplayError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temp = directory + "/." + name + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .pngWriteFailed(path: path, step: "creating \(temp)", errno: errno) }
        var failure: (step: String, errno: Int32)?
        if let code = data.withUnsafeBytes({ FileDescriptorWrite.all($0, to: fd) }) {
            failure = ("writing \(temp)", code)
        }
        if failure == nil, fsync(fd) != 0 { failure = ("fsync of \(temp)", errno) }
        if close(fd) != 0, failure == nil { failure = ("closing \(temp)", errno) }
        if failure == nil, rename(temp, path) != 0 { failure = ("renaming \(temp) to \(path)", errno) }
        if let failure {
            unlink(temp)
            throw .pngWriteFailed(path: path, step: failure.step, errno: failure.errno)
        }
        // Make the rename itself durable across a power cut.
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }
}
