import DripPayModels

// An API answer body: decoded as each documented shape (an invoice, a page of invoices, a
// status, a pong, an error message). Decode failures are expected; a crash is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAPIJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    for shape in APIAnswerShape.allCases {
        _ = try? APIAnswerDecoder.decode(shape, bytes)
    }
    return 0
}
