import CFreeType
import Glibc

/// Finds the DejaVu fonts that screens use (Debian's fonts-dejavu-core and other distributions' paths).
public struct FontLocator: Hashable, Sendable {
    /// Directories searched in order.
    public var searchPaths: [String]

    public static let defaultSearchPaths = [
        "/usr/share/fonts/truetype/dejavu",  // Debian, Ubuntu, Raspberry Pi OS
        "/usr/share/fonts/dejavu",  // Alpine
        "/usr/share/fonts/dejavu-sans-fonts",  // Fedora
        "/usr/share/fonts/TTF",  // Arch
        "/usr/local/share/fonts",
    ]

    public init(searchPaths: [String] = FontLocator.defaultSearchPaths) {
        self.searchPaths = searchPaths
    }

    /// The full path of `file` in the first search directory holding it.
    public func path(of file: String) throws(DisplayError) -> String {
        for directory in searchPaths {
            let candidate = directory.hasSuffix("/") ? directory + file : directory + "/" + file
            if access(candidate, R_OK) == 0 { return candidate }
        }
        throw .fontNotFound(file: file, searched: searchPaths)
    }
}

/// One rendered glyph: an 8-bit coverage bitmap and where it sits relative to the pen.
struct Glyph {
    var width: Int
    var rows: Int
    /// Pixels from the pen to the bitmap's left edge.
    var left: Int
    /// Pixels from the baseline up to the bitmap's top row.
    var top: Int
    /// Pixels the pen moves right after this glyph.
    var advance: Int
    var coverage: [UInt8]
}

/// A FreeType face at any pixel size, with rendered glyphs cached. Not thread-safe (FreeType
/// libraries are not): each output owns its own fonts inside its actor.
final class FontFace {
    let path: String
    private var library: FT_Library?
    private var face: FT_Face?
    private var currentSize = 0
    private var glyphs: [GlyphKey: Glyph] = [:]
    private var metrics: [Int: (ascent: Int, descent: Int)] = [:]

    private struct GlyphKey: Hashable {
        var size: Int
        var scalar: UInt32
    }

    init(path: String) throws(DisplayError) {
        self.path = path
        var lib: FT_Library?
        let initError = FT_Init_FreeType(&lib)
        guard initError == 0, let lib else { throw .fontLoadFailed(path: path, freetypeError: initError) }
        library = lib
        var loaded: FT_Face?
        let faceError = FT_New_Face(lib, path, 0, &loaded)
        guard faceError == 0, let loaded else {
            FT_Done_FreeType(lib)
            library = nil
            throw .fontLoadFailed(path: path, freetypeError: faceError)
        }
        face = loaded
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    private func select(size: Int) throws(DisplayError) -> FT_Face {
        guard let face else { throw .fontLoadFailed(path: path, freetypeError: -1) }
        if currentSize != size {
            let error = FT_Set_Pixel_Sizes(face, 0, FT_UInt(size))
            guard error == 0 else { throw .fontLoadFailed(path: path, freetypeError: error) }
            currentSize = size
        }
        return face
    }

    /// Ascent and descent (both positive) in pixels at `size`.
    func lineMetrics(size: Int) throws(DisplayError) -> (ascent: Int, descent: Int) {
        if let known = metrics[size] { return known }
        let face = try select(size: size)
        let m = face.pointee.size.pointee.metrics
        let value = (ascent: Int((m.ascender + 63) >> 6), descent: Int((-m.descender + 63) >> 6))
        metrics[size] = value
        return value
    }

    /// Whether the face has a glyph of its own for `scalar` (FreeType's index 0 is the
    /// missing-glyph box).
    func hasGlyph(_ scalar: Unicode.Scalar) -> Bool {
        guard let face else { return false }
        return FT_Get_Char_Index(face, FT_ULong(scalar.value)) != 0
    }

    func glyph(_ scalar: Unicode.Scalar, size: Int) throws(DisplayError) -> Glyph {
        let key = GlyphKey(size: size, scalar: scalar.value)
        if let cached = glyphs[key] { return cached }
        let face = try select(size: size)
        // FT_LOAD_RENDER (1 << 2): load and rasterise to an 8-bit anti-aliased bitmap in one call.
        let error = FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(1 << 2))
        guard error == 0, let slot = face.pointee.glyph else {
            throw .glyphFailed(path: path, character: String(Character(scalar)), freetypeError: error)
        }
        let bitmap = slot.pointee.bitmap
        let width = Int(bitmap.width), rows = Int(bitmap.rows), pitch = Int(bitmap.pitch)
        var coverage = [UInt8](repeating: 0, count: width * rows)
        if let buffer = bitmap.buffer, width > 0, rows > 0 {
            for row in 0..<rows {
                let source = pitch >= 0 ? row * pitch : (rows - 1 - row) * -pitch
                for col in 0..<width { coverage[row * width + col] = buffer[source + col] }
            }
        }
        let glyph = Glyph(
            width: width, rows: rows, left: Int(slot.pointee.bitmap_left), top: Int(slot.pointee.bitmap_top),
            advance: Int((slot.pointee.advance.x + 32) >> 6), coverage: coverage)
        glyphs[key] = glyph
        return glyph
    }
}

/// The two faces screens use: DejaVu Sans for body text and DejaVu Sans Bold for headings and prices.
final class FontSet {
    let regular: FontFace
    let bold: FontFace

    static let regularFile = "DejaVuSans.ttf"
    static let boldFile = "DejaVuSans-Bold.ttf"

    init(locator: FontLocator) throws(DisplayError) {
        regular = try FontFace(path: locator.path(of: FontSet.regularFile))
        bold = try FontFace(path: locator.path(of: FontSet.boldFile))
    }
}
