import ControllerLink
import ControllerSimulator
import Foundation
import KioskCore
import Logging

/// Controller link figures: framing and decoding throughput (pure), and the round trip of a
/// line over a real pty (simulator -> link -> simulator).
func runControllerBenchmarks() async throws {
    let usd = Currency(iso: "USD")!
    let clock = ContinuousClock()

    // Framer: 1 MiB of vmc-line traffic fed in 4 KiB reads.
    let lineText = (0..<40_000).map { "VEND id\($0) A\($0 % 50) \($0 % 7).\($0 % 10)0\r\n" }.joined()
    let bytes = Array(lineText.utf8)
    var framer = LineFramer()
    var lines = 0
    let framing = clock.measure {
        var index = 0
        while index < bytes.count {
            lines += framer.feed(bytes[index..<min(bytes.count, index + 4096)]).count
            index += 4096
        }
    }
    let megabytes = Double(bytes.count) / 1_048_576
    print(
        "framer: \(lines) lines, \(fixed(megabytes, 2)) MiB in \(framing) -> \(fixed(megabytes / framing.inSeconds, 1)) MiB/s"
    )

    // vmc-line decode.
    let vmcLines = (0..<100_000).map { "VEND id\($0) A\($0 % 50) 1.\($0 % 10)0" }
    var vmc = VMCLineCodec(currency: usd)
    var decoded = 0
    let vmcTime = clock.measure { for line in vmcLines { decoded += vmc.decode(line).count } }
    print("vmc-line decode: \(decoded) lines in \(vmcTime) -> \(fixed(Double(decoded) / vmcTime.inSeconds, 0)) lines/s")

    // qibixx-mdb decode of a full sale cycle.
    let sequence = VendIDSequence(prefix: "bench")
    var mdb = VendNumbering(QibixxMDBCodec(currency: usd), makeVendID: { sequence.make() })
    _ = mdb.decode("c,STATUS,ENABLED")
    var mdbLines = 0
    let mdbTime = clock.measure {
        for n in 0..<25_000 {
            _ = mdb.decode("c,STATUS,VEND,1.\(n % 10)0,\(n % 40)")
            _ = mdb.decode("r,ACK")
            _ = mdb.encode(
                .dispense(mdb.pendingVend!, price: Money(minorUnits: Int64(100 + (n % 10) * 10), currency: usd)))
            _ = mdb.decode("c,VEND,SUCCESS")
            _ = mdb.decode("c,STATUS,IDLE")
            mdbLines += 4
        }
    }
    print(
        "qibixx-mdb decode: \(mdbLines) lines in \(mdbTime) -> \(fixed(Double(mdbLines) / mdbTime.inSeconds, 0)) lines/s"
    )

    // Round trip over a pty: the simulator sends PING, the link decodes it, the bench answers
    // PONG through the link, the simulator sees it.
    let simulator = try await ControllerSimulator.plugged(kind: .vmcLine)
    let link = ControllerLink(
        options: SerialOptions(device: simulator.devicePath), protocol: .vmcLine, currency: usd,
        makeVendID: { sequence.make() }, logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
    let running = Task { try await link.run() }
    var events = link.events.makeAsyncIterator()
    guard case .up? = await events.next() else { throw SimulatorError.setup("link did not come up") }
    var samples: [Duration] = []
    for _ in 0..<500 {
        let start = clock.now
        try await simulator.ping()
        guard case .controller(.ping)? = await events.next() else { throw SimulatorError.setup("no ping") }
        try await link.send(.pong)
        try await simulator.waitForLine("PONG", timeout: .seconds(2))
        samples.append(clock.now - start)
    }
    samples.sort()
    let median = samples[samples.count / 2]
    let p99 = samples[samples.count * 99 / 100]
    print("pty round trip (PING in, PONG out, 500 samples): median \(median), p99 \(p99)")

    // Recovery: unplug and re-plug, time until the link is up again (back-off 0.1 s start).
    let unplugAt = clock.now
    await simulator.unplug()
    try await simulator.plug()
    while let event = await events.next() {
        if case .up = event { break }
    }
    print("recovery after unplug/re-plug (standard back-off): \(clock.now - unplugAt)")
    running.cancel()
    _ = await running.result
    await simulator.shutdown()
}

private func fixed(_ value: Double, _ digits: Int) -> String {
    String(format: "%.\(digits)f", value)
}
