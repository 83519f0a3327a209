// The models and their decoding live in DripPayModels (no SwiftNIO, so the fuzzer builds them
// alone); every user of the client sees them as part of DripPayAPI.
@_exported import DripPayModels
