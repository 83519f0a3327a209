import PayCodes

// A payment request as scanned from the invoice's QR image: bech32 with its checksum, then the
// BOLT11 fields the pay screen needs, and the rule that picks the case it is drawn in. Refusals
// are expected; a crash, a hang or a sanitizer report is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPayCodes(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? Bech32.decode(text)
    if let invoice = try? Bolt11Invoice.decode(text) {
        // A request that decodes must name an expiry at or after its own timestamp.
        precondition(invoice.expiresAt >= invoice.timestamp, "expiry before timestamp for \(text)")
    }
    _ = LightningText.forDrawing(text)
    return 0
}
