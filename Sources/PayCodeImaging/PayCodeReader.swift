import PayCodes

/// What a fetched QR image holds, as the pay screen uses it.
public enum PayCodeContent: Hashable, Sendable {
    /// Exactly one QR symbol was read: its text.
    case text(String)
    /// No single readable symbol (none, or several): the image itself is drawn.
    case image(GrayImage, reason: String)
}

/// Image bytes -> what to show: decode (WebP/PNG), then scan with zbar. Pure over bytes.
public enum PayCodeReader {
    public static func read(_ bytes: [UInt8], contentType: String?) throws(ImageDecodeError) -> PayCodeContent {
        let image = try ImageDecoder.decode(bytes, contentType: contentType)
        let texts = QRScanner.scan(image)
        switch texts.count {
        case 1: return .text(texts[0])
        case 0:
            return .image(image, reason: "zbar found no readable QR symbol in the \(image.width)x\(image.height) image")
        default: return .image(image, reason: "zbar found \(texts.count) QR symbols in the image, not exactly one")
        }
    }
}
