import PayCodes

/// An sRGB colour, 8 bits per channel.
public struct RGB: Hashable, Sendable {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
}

/// An axis-aligned rectangle in pixels.
public struct Rect: Hashable, Sendable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var maxX: Int { x + width }
    public var maxY: Int { y + height }

    /// This rectangle shrunk by `amount` on every side.
    public func inset(by amount: Int) -> Rect {
        Rect(x: x + amount, y: y + amount, width: max(0, width - 2 * amount), height: max(0, height - 2 * amount))
    }
}

/// A packed RGB raster (3 bytes per pixel, rows top to bottom) that screens are drawn into
/// before an output converts and writes it in one go.
public struct Canvas: Hashable, Sendable {
    public let width: Int
    public let height: Int
    /// `width * height * 3` bytes, R G B per pixel.
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, background: RGB = .white) {
        self.width = width
        self.height = height
        var row = [UInt8]()
        row.reserveCapacity(width * 3)
        for _ in 0..<width { row.append(contentsOf: [background.r, background.g, background.b]) }
        var all = [UInt8]()
        all.reserveCapacity(width * height * 3)
        for _ in 0..<height { all.append(contentsOf: row) }
        self.pixels = all
    }

    public subscript(x: Int, y: Int) -> RGB {
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Fills `rect`, clipped to the canvas.
    public mutating func fill(_ rect: Rect, with color: RGB) {
        let x0 = max(0, rect.x), x1 = min(width, rect.maxX)
        let y0 = max(0, rect.y), y1 = min(height, rect.maxY)
        guard x0 < x1, y0 < y1 else { return }
        let w = width
        pixels.withUnsafeMutableBufferPointer { p in
            for y in y0..<y1 {
                var i = (y * w + x0) * 3
                for _ in x0..<x1 {
                    p[i] = color.r
                    p[i + 1] = color.g
                    p[i + 2] = color.b
                    i += 3
                }
            }
        }
    }

    /// Blends `color` over the pixel with `coverage` (0 = untouched, 255 = fully `color`); for glyphs.
    public mutating func blend(x: Int, y: Int, color: RGB, coverage: UInt8) {
        guard coverage > 0, x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        let a = UInt32(coverage), inv = 255 - UInt32(coverage)
        pixels[i] = UInt8((UInt32(color.r) * a + UInt32(pixels[i]) * inv + 127) / 255)
        pixels[i + 1] = UInt8((UInt32(color.g) * a + UInt32(pixels[i + 1]) * inv + 127) / 255)
        pixels[i + 2] = UInt8((UInt32(color.b) * a + UInt32(pixels[i + 2]) * inv + 127) / 255)
    }

    /// Draws `code` centred in the square `area` at the largest integer module size that fits the
    /// symbol plus a white quiet zone of 4 modules, so every module is crisp. Returns the rectangle
    /// covered (quiet zone included).
    @discardableResult
    public mutating func draw(
        _ code: QRCode, in area: Rect, dark: RGB = .black, light: RGB = .white
    ) throws(DisplayError) -> Rect {
        let modules = code.size + 2 * QRLayout.quietZone
        let side = min(area.width, area.height)
        let scale = side / modules
        guard scale >= 1 else {
            throw .qrDoesNotFit(modules: modules, pixels: side, width: width, height: height)
        }
        let pixelsUsed = modules * scale
        let origin = (x: area.x + (area.width - pixelsUsed) / 2, y: area.y + (area.height - pixelsUsed) / 2)
        let covered = Rect(x: origin.x, y: origin.y, width: pixelsUsed, height: pixelsUsed)
        fill(covered, with: light)
        let start = QRLayout.quietZone * scale
        for my in 0..<code.size {
            for mx in 0..<code.size where code.isDark(mx, my) {
                fill(
                    Rect(
                        x: origin.x + start + mx * scale, y: origin.y + start + my * scale, width: scale, height: scale),
                    with: dark)
            }
        }
        return covered
    }
}

extension Canvas {
    /// Draws `image` centred in `area`, scaled by the largest whole factor that fits, each source
    /// pixel a crisp square (nearest neighbour). Returns the rectangle covered.
    @discardableResult
    public mutating func draw(_ image: GrayImage, in area: Rect) throws(DisplayError) -> Rect {
        let scale = image.integerScale(toFit: area.width, area.height)
        guard scale >= 1 else {
            throw .imageDoesNotFit(
                imageWidth: image.width, imageHeight: image.height, areaWidth: area.width, areaHeight: area.height)
        }
        let w = image.width * scale, h = image.height * scale
        let origin = (x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2)
        for y in 0..<image.height {
            for x in 0..<image.width {
                let v = image[x, y]
                fill(
                    Rect(x: origin.x + x * scale, y: origin.y + y * scale, width: scale, height: scale),
                    with: RGB(v, v, v))
            }
        }
        return Rect(x: origin.x, y: origin.y, width: w, height: h)
    }
}

/// Constants of how a QR code is laid out on any output.
public enum QRLayout {
    /// White modules around the symbol that scanners need (ISO/IEC 18004 asks for 4).
    public static let quietZone = 4
}
