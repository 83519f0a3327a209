import ControllerLink
import KioskCore

// Bytes from the serial line: framed into lines (fed in two chunks split at a point the input
// chooses, so partial lines are exercised) and every line decoded by both codecs. Each command
// is also encoded back, as the link would answer, which must not trap either.

private let usd = Currency(code: "USD", minorDigits: 2)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFramer(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let first = bytes.first else { return 0 }
    let body = bytes.dropFirst()
    let split = body.isEmpty ? 0 : Int(first) % (body.count + 1)
    var vmc = VMCLineCodec(currency: usd)
    var counter = 0
    var mdb = VendNumbering(QibixxMDBCodec(currency: usd), makeVendID: { VendID("F1")! })
    for maxLine in [vmc.maxLineBytes, mdb.maxLineBytes] {
        var framer = LineFramer(maxLineBytes: maxLine)
        var outputs = framer.feed(body.prefix(split))
        outputs += framer.feed(body.dropFirst(split))
        for case .line(let line) in outputs {
            for event in vmc.decode(line) + mdb.decode(line) {
                counter += 1
                if case .vendRequested(let request) = event {
                    _ = vmc.encode(.accept(request.id))
                    _ = mdb.encode(.accept(request.id))
                    _ = vmc.encode(.deny(request.id, .timeout))
                    _ = mdb.encode(.dispense(request.id, price: request.price))
                }
            }
        }
    }
    _ = counter
    return 0
}
