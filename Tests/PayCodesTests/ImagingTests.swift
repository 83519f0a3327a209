import Foundation
import KioskTestSupport
import Testing

@testable import PayCodeImaging
@testable import PayCodes

@Suite("QR image decoding (libwebp, libpng, zbar)", .serialized)
struct ImagingTests {
    let bolt11 = Bolt11Invoice.encode(
        network: "tb", amountMsat: 15_340_000, timestamp: 1_780_000_000, paymentHash: [UInt8](repeating: 7, count: 32),
        paymentSecret: [UInt8](repeating: 9, count: 32), description: "drippay sandbox quote", expirySeconds: 60,
        signature: [UInt8](repeating: 3, count: 65))

    @Test("a WebP QR picture decodes and zbar reads exactly its text")
    func webpRoundTrip() throws {
        let webp = try QRRaster.webp(QRRaster.image(bolt11, scale: 4))
        #expect(ImageFormat.sniff(webp) == .webp)
        #expect(try PayCodeReader.read(webp, contentType: "image/webp") == .text(bolt11))
        // No Content-Type: the magic bytes decide.
        #expect(try PayCodeReader.read(webp, contentType: nil) == .text(bolt11))
    }

    @Test("a PNG written by an independent encoder (dwebp) decodes through libpng")
    func pngFromDwebp() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paycodes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let webpPath = dir.appendingPathComponent("qr.webp").path
        let pngPath = dir.appendingPathComponent("qr.png").path
        try Data(QRRaster.webp(QRRaster.image("lightning:" + bolt11, scale: 3))).write(
            to: URL(fileURLWithPath: webpPath))
        let result = try await ChildProcess.run("/usr/bin/dwebp", [webpPath, "-o", pngPath])
        #expect(result.status == 0, "dwebp: \(result.stderr)")
        let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: pngPath)))
        #expect(ImageFormat.sniff(png) == .png)
        #expect(try PayCodeReader.read(png, contentType: "image/png; charset=binary") == .text("lightning:" + bolt11))
    }

    @Test("a picture without a QR symbol, or with two, is drawn as it is")
    func fallbackToImage() throws {
        var generator = SplitMix64(seed: 11)
        let noise = GrayImage(
            width: 120, height: 90, pixels: (0..<(120 * 90)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        guard
            case .image(let image, let reason) = try PayCodeReader.read(QRRaster.webp(noise), contentType: "image/webp")
        else {
            Issue.record("noise read as a QR symbol")
            return
        }
        #expect(image == noise)  // lossless: the very pixels come back
        #expect(reason.contains("no readable QR"))

        let one = try QRRaster.image("first", scale: 4)
        let two = try QRRaster.image("second", scale: 4)
        var both = GrayImage(width: one.width + two.width, height: max(one.height, two.height))
        for y in 0..<one.height { for x in 0..<one.width { both[x, y] = one[x, y] } }
        for y in 0..<two.height { for x in 0..<two.width { both[one.width + x, y] = two[x, y] } }
        guard case .image(_, let twoReason) = try PayCodeReader.read(QRRaster.webp(both), contentType: nil) else {
            Issue.record("two symbols read as one")
            return
        }
        #expect(twoReason.contains("2 QR symbols"))
    }

    @Test("bytes that are no image, or a broken one, are refused with the reason")
    func garbage() throws {
        #expect(throws: ImageDecodeError.unknownFormat(contentType: "text/html", firstBytes: "3c 68 74 6d 6c 3e")) {
            try ImageDecoder.decode(Array("<html>".utf8), contentType: "text/html")
        }
        let webp = try QRRaster.webp(QRRaster.image("x", scale: 2))
        #expect(throws: ImageDecodeError.self) {
            try ImageDecoder.decode(Array(webp.prefix(webp.count / 2)) + [1, 2, 3], contentType: "image/webp")
        }
        #expect(throws: ImageDecodeError.self) {
            try ImageDecoder.decode([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0], contentType: nil)
        }
        var generator = SplitMix64(seed: 3)
        for _ in 0..<200 {
            var bytes = webp
            for _ in 0..<8 {
                bytes[Int.random(in: 12..<bytes.count, using: &generator)] = UInt8.random(
                    in: 0...255, using: &generator)
            }
            _ = try? PayCodeReader.read(bytes, contentType: "image/webp")  // must not crash
        }
    }

    @Test("Content-Type decides the format first, then the magic bytes")
    func formatChoice() {
        #expect(ImageFormat.from(contentType: "IMAGE/WEBP") == .webp)
        #expect(ImageFormat.from(contentType: "image/png;q=1") == .png)
        #expect(ImageFormat.from(contentType: "application/octet-stream") == nil)
        #expect(ImageFormat.sniff(Array("GIF89a".utf8)) == nil)
    }
}
