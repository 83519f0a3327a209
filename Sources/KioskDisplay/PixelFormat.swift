/// How a framebuffer packs one pixel: bits per pixel and each channel's bit offset and length, as
/// `fb_var_screeninfo` reports them. Pixels are little-endian words, as on every fbdev we target.
public struct PixelFormat: Hashable, Sendable {
    /// One colour channel's place in the pixel word.
    public struct Channel: Hashable, Sendable {
        public var offset: Int
        public var length: Int

        public init(offset: Int, length: Int) {
            self.offset = offset
            self.length = length
        }
    }

    public var bitsPerPixel: Int
    public var red: Channel
    public var green: Channel
    public var blue: Channel
    /// Alpha, when the driver has one; written fully opaque.
    public var transparency: Channel

    public init(
        bitsPerPixel: Int, red: Channel, green: Channel, blue: Channel,
        transparency: Channel = Channel(offset: 0, length: 0)
    ) {
        self.bitsPerPixel = bitsPerPixel
        self.red = red
        self.green = green
        self.blue = blue
        self.transparency = transparency
    }

    public var bytesPerPixel: Int { (bitsPerPixel + 7) / 8 }

    /// The layout real drivers report for plain-file framebuffers: RGB565 at 16 bpp, BGR bytes
    /// (red at bit 16) at 24 bpp and BGRA bytes with opaque alpha at 32 bpp.
    public static func standard(bitsPerPixel: Int) -> PixelFormat? {
        switch bitsPerPixel {
        case 16:
            return PixelFormat(
                bitsPerPixel: 16, red: Channel(offset: 11, length: 5), green: Channel(offset: 5, length: 6),
                blue: Channel(offset: 0, length: 5))
        case 24:
            return PixelFormat(
                bitsPerPixel: 24, red: Channel(offset: 16, length: 8), green: Channel(offset: 8, length: 8),
                blue: Channel(offset: 0, length: 8))
        case 32:
            return PixelFormat(
                bitsPerPixel: 32, red: Channel(offset: 16, length: 8), green: Channel(offset: 8, length: 8),
                blue: Channel(offset: 0, length: 8), transparency: Channel(offset: 24, length: 8))
        default:
            return nil
        }
    }

    /// Whether this module can write the format: 16, 24 or 32 bpp with channels of at most 8 bits inside the word.
    public var isSupported: Bool {
        guard [16, 24, 32].contains(bitsPerPixel) else { return false }
        return [red, green, blue, transparency].allSatisfy {
            $0.length >= 0 && $0.length <= 8 && $0.offset >= 0
                && ($0.length == 0 || $0.offset + $0.length <= bitsPerPixel)
        }
    }

    /// The pixel word for `color`: each channel's top bits shifted into place.
    public func pack(_ color: RGB) -> UInt32 {
        func place(_ value: UInt8, _ channel: Channel) -> UInt32 {
            guard channel.length > 0 else { return 0 }
            return (UInt32(value) >> UInt32(8 - channel.length)) << UInt32(channel.offset)
        }
        return place(color.r, red) | place(color.g, green) | place(color.b, blue) | place(255, transparency)
    }
}

/// The memory layout of a whole frame: visible size, bytes per line (may exceed width * bytes per
/// pixel) and pixel format.
public struct FrameGeometry: Hashable, Sendable {
    public var width: Int
    public var height: Int
    /// Bytes from one line to the next (`line_length`).
    public var stride: Int
    public var format: PixelFormat

    public init(width: Int, height: Int, stride: Int, format: PixelFormat) {
        self.width = width
        self.height = height
        self.stride = stride
        self.format = format
    }

    public var frameBytes: Int { stride * height }

    /// `canvas` (which must be `width` x `height`) as the bytes of one frame; padding bytes are zero.
    public func encode(_ canvas: Canvas) -> [UInt8] {
        precondition(canvas.width == width && canvas.height == height, "canvas does not match the frame geometry")
        var frame = [UInt8](repeating: 0, count: frameBytes)
        let bpp = format.bytesPerPixel
        let format = self.format
        // Screens are mostly flat colour: remember the last pixel's word instead of packing every one.
        var lastColor = RGB(0, 0, 0)
        var lastWord = format.pack(lastColor)
        canvas.pixels.withUnsafeBufferPointer { source in
            frame.withUnsafeMutableBufferPointer { target in
                for y in 0..<height {
                    var s = y * width * 3
                    var t = y * stride
                    for _ in 0..<width {
                        let color = RGB(source[s], source[s + 1], source[s + 2])
                        if color != lastColor {
                            lastColor = color
                            lastWord = format.pack(color)
                        }
                        var word = lastWord
                        for b in 0..<bpp {
                            target[t + b] = UInt8(truncatingIfNeeded: word)
                            word >>= 8
                        }
                        s += 3
                        t += bpp
                    }
                }
            }
        }
        return frame
    }
}
