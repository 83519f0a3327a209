import PayCodeImaging

// The bytes the API serves at qr_code_image_url: WebP or PNG, decoded (libwebp, libpng) and
// scanned for QR symbols (zbar), each format tried by magic bytes and by both Content-Types.
// Refusals are expected; a crash, a hang or a sanitizer report is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPayImage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    for contentType in [nil, "image/webp", "image/png"] {
        _ = try? PayCodeReader.read(bytes, contentType: contentType)
    }
    return 0
}
