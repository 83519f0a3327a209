/// An 8-bit grey image, row-major, 0 = black, 255 = white: a QR image as the kiosk decodes,
/// scans and draws it. A plain value.
public struct GrayImage: Hashable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(
            width >= 0 && height >= 0 && pixels.count == width * height, "pixels must hold width x height bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 255) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height))
    }

    public subscript(x: Int, y: Int) -> UInt8 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// The largest whole factor by which this image fits in `width` x `height` (at least 1 when it
    /// fits at all, 0 when it is larger than the box).
    public func integerScale(toFit width: Int, _ height: Int) -> Int {
        guard self.width > 0, self.height > 0 else { return 0 }
        return min(width / self.width, height / self.height)
    }
}
