import Foundation
import KioskCore
import Testing

@testable import KioskDisplay

@Suite("Frame cost: one-pass fast PNG")
struct FrameCostTests {
    @Test("the one-pass PNG buffer holds even an incompressible image, which decodes back")
    func incompressiblePNG() async throws {
        var canvas = Canvas(width: 480, height: 320)
        var rng = SystemRandomNumberGenerator()
        for y in 0..<canvas.height {
            for x in 0..<canvas.width {
                canvas.fill(
                    Rect(x: x, y: y, width: 1, height: 1),
                    with: RGB(
                        .random(in: 0...255, using: &rng), .random(in: 0...255, using: &rng),
                        .random(in: 0...255, using: &rng)))
            }
        }
        let png = try PNGEncoder.encode(canvas)
        #expect(png.count > canvas.pixels.count, "noise does not compress: \(png.count) bytes")
        #expect(png.count <= PNGEncoder.maximumSize(width: 480, height: 320))
        let dir = try makeTempDirectory()
        try Data(png).write(to: URL(fileURLWithPath: dir + "/noise.png"))
        // Read back independently of libpng: python3's zlib inflates the IDAT chunks; with
        // PNG_IMAGE_FLAG_FAST every row is stored unfiltered (filter byte 0), so the rows are the pixels.
        let rows = try await unfilteredRows(dir + "/noise.png")
        #expect(rows == canvas.pixels)
    }
}

/// The pixel rows of an 8-bit RGB PNG whose rows are all unfiltered, inflated by python3's zlib;
/// nil when a row is filtered.
private func unfilteredRows(_ path: String) async throws -> [UInt8]? {
    let script = """
        import struct, sys, zlib
        data = open(sys.argv[1], "rb").read(); pos = 8; idat = b""; width = 0
        while pos < len(data):
            n, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if kind == b"IHDR": width = struct.unpack(">I", data[pos + 8:pos + 12])[0]
            if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
            pos += 12 + n
        raw = zlib.decompress(idat); row = width * 3 + 1; out = bytearray()
        for i in range(0, len(raw), row):
            if raw[i] != 0: sys.exit(3)
            out += raw[i + 1:i + row]
        sys.stdout.buffer.write(out)
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? [UInt8](output) : nil
}
