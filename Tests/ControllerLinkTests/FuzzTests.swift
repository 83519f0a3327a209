import KioskTestSupport
import ControllerLink
import KioskCore
import Testing

private let tokenAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

private func token<G: RandomNumberGenerator>(_ g: inout G, _ range: ClosedRange<Int>) -> String {
    String((0..<Int.random(in: range, using: &g)).map { _ in tokenAlphabet.randomElement(using: &g)! })
}

private func words<G: RandomNumberGenerator>(_ g: inout G) -> String {
    (0..<Int.random(in: 1...5, using: &g)).map { _ in token(&g, 1...8) }.joined(separator: " ")
}

private func money<G: RandomNumberGenerator>(_ g: inout G, _ currency: Currency) -> Money {
    Money(minorUnits: Int64.random(in: 1...1_000_000, using: &g), currency: currency)
}

/// Byte-level mutations of a valid line: flips, inserts, deletes, doubled spaces.
private func mutate<G: RandomNumberGenerator>(_ line: String, _ g: inout G) -> [UInt8] {
    var bytes = Array(line.utf8)
    for _ in 0..<Int.random(in: 1...3, using: &g) {
        let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &g)
        switch Int.random(in: 0..<5, using: &g) {
        case 0 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &g)
        case 1: bytes.insert(UInt8.random(in: 0x20...0x7E, using: &g), at: position)
        case 2 where !bytes.isEmpty: bytes.remove(at: position)
        case 3: bytes.insert(0x20, at: position)
        default: bytes.insert(UInt8.random(in: 0...255, using: &g), at: position)
        }
    }
    return bytes
}

@Suite("Fuzz and properties (seeded)")
struct FuzzTests {
    static let usd = Currency(iso: "USD")!

    // MARK: framer

    @Test func framerOutputDoesNotDependOnHowBytesAreSplit() {
        var g = SplitMix64(seed: 0xF00D)
        for _ in 0..<2000 {
            let length = Int.random(in: 0...600, using: &g)
            let stream: [UInt8] = (0..<length).map { _ in
                switch Int.random(in: 0..<10, using: &g) {
                case 0: return 0x0A
                case 1: return 0x0D
                case 2: return UInt8.random(in: 0x80...0xFF, using: &g)
                default: return UInt8.random(in: 0x20...0x7E, using: &g)
                }
            }
            let limit = Int.random(in: 1...64, using: &g)
            var whole = LineFramer(maxLineBytes: limit)
            let expected = whole.feed(stream)
            var chunked = LineFramer(maxLineBytes: limit)
            var got: [LineFramer.Output] = []
            var index = 0
            while index < stream.count {
                let size = Int.random(in: 1...17, using: &g)
                got += chunked.feed(stream[index..<min(stream.count, index + size)])
                index += size
            }
            #expect(got == expected)
            let terminators = stream.filter { $0 == 0x0A || $0 == 0x0D }.count
            #expect(got.count <= terminators + 1)
            for output in got {
                if case .line(let line) = output {
                    #expect(!line.isEmpty && line.utf8.count <= limit)
                    #expect(!line.utf8.contains(0x0A) && !line.utf8.contains(0x0D))
                }
            }
        }
    }

    @Test func framerReportsEachOverlongLineExactlyOnce() {
        var g = SplitMix64(seed: 42)
        for _ in 0..<1000 {
            let limit = Int.random(in: 4...40, using: &g)
            var expectedErrors = 0
            var expectedLines: [String] = []
            var stream: [UInt8] = []
            for _ in 0..<Int.random(in: 1...10, using: &g) {
                let length = Int.random(in: 1...(limit * 3), using: &g)
                let line = String((0..<length).map { _ in tokenAlphabet.randomElement(using: &g)! })
                if length > limit { expectedErrors += 1 } else { expectedLines.append(line) }
                stream += Array(line.utf8) + (Bool.random(using: &g) ? [0x0D, 0x0A] : [0x0A])
            }
            var framer = LineFramer(maxLineBytes: limit)
            let out = framer.feed(stream)
            let errors = out.filter { $0 == .error(.lineTooLong(limit: limit)) }.count
            let lines = out.compactMap { if case .line(let l) = $0 { l } else { nil } }
            #expect(errors == expectedErrors)
            #expect(lines == expectedLines)
        }
    }

    // MARK: vmc-line

    private func randomEvent<G: RandomNumberGenerator>(_ g: inout G) -> ControllerEvent {
        let id = VendID(token(&g, 1...32))!
        switch Int.random(in: 0..<6, using: &g) {
        case 0: return .hello(name: token(&g, 1...32), version: token(&g, 1...32))
        case 1: return .vendRequested(VendRequest(id: id, product: ProductCode(token(&g, 1...16))!, price: money(&g, Self.usd)))
        case 2: return .vendAborted(id)
        case 3: return .dispensed(id)
        case 4: return .dispenseFailed(id, reason: words(&g))
        default: return .ping
        }
    }

    private func randomCommand<G: RandomNumberGenerator>(_ g: inout G) -> ControllerCommand {
        let id = VendID(token(&g, 1...32))!
        switch Int.random(in: 0..<7, using: &g) {
        case 0: return .ready
        case 1: return .outOfService(reason: words(&g))
        case 2: return .accept(id)
        case 3: return .dispense(id, price: Money(minorUnits: 0, currency: Self.usd))
        case 4: return .deny(id, DenyReason.allCases.randomElement(using: &g)!)
        case 5: return .error(message: words(&g))
        default: return .pong
        }
    }

    @Test func vmcLineEventsRoundTripThroughTheWire() {
        var g = SplitMix64(seed: 7)
        var codec = VMCLineCodec(currency: Self.usd)
        for _ in 0..<3000 {
            let event = randomEvent(&g)
            let line = VMCLineMachineSide.line(for: event)!
            #expect(codec.decode(line) == [event], "line: \(line)")
        }
    }

    @Test func vmcLineCommandsRoundTripThroughTheWire() {
        var g = SplitMix64(seed: 8)
        var codec = VMCLineCodec(currency: Self.usd)
        for _ in 0..<3000 {
            let command = randomCommand(&g)
            let lines = codec.encode(command)
            #expect(lines.count == 1)
            #expect(lines.allSatisfy { $0.utf8.count <= 256 })
            #expect(VMCLineMachineSide.command(from: lines[0], currency: Self.usd) == command, "line: \(lines[0])")
        }
    }

    @Test func vmcLineMutatedLinesNeverCrashAndBadOnesAreReported() {
        var g = SplitMix64(seed: 9)
        var codec = VMCLineCodec(currency: Self.usd)
        var malformed = 0
        for _ in 0..<5000 {
            let valid = VMCLineMachineSide.line(for: randomEvent(&g))!
            let bytes = mutate(valid, &g)
            let line = String(decoding: bytes, as: UTF8.self)
            let events = codec.decode(line)
            #expect(events.count == 1)
            switch events.first {
            case .malformed(let echoed, let reason)?:
                malformed += 1
                #expect(echoed == line)
                #expect(!reason.isEmpty)
            case let event?:
                // Accepted lines are well-formed: printable ASCII, single spaces, and their
                // meaning survives a trip back through the wire.
                #expect(line.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F })
                #expect(!line.contains("  ") && !line.hasPrefix(" ") && !line.hasSuffix(" "))
                let again = VMCLineMachineSide.line(for: event)!
                #expect(codec.decode(again) == [event])
            case nil:
                Issue.record("no event for \(line)")
            }
        }
        #expect(malformed > 1000)
    }

    @Test func vmcLineRandomBytesAreAlwaysMalformedOrValid() {
        var g = SplitMix64(seed: 10)
        var codec = VMCLineCodec(currency: Self.usd)
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 0...80, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            let line = String(decoding: bytes, as: UTF8.self)
            let events = codec.decode(line)
            #expect(events.count == 1)
            if case .malformed(_, let reason)? = events.first { #expect(!reason.isEmpty) }
        }
    }

    // MARK: qibixx-mdb

    @Test func mdbRandomSessionsKeepMoneySafetyInvariants() {
        var g = SplitMix64(seed: 11)
        let sequence = VendIDSequence(prefix: "f")
        var codec = QibixxMDBCodec(currency: Self.usd, makeVendID: { sequence.make() })
        var requested: Set<VendID> = []
        var approved: Set<VendID> = []
        var settled: Set<VendID> = []
        var pending: VendID?
        let statuses = ["c,STATUS,INACTIVE", "c,STATUS,DISABLED", "c,STATUS,ENABLED", "c,STATUS,IDLE", "c,STATUS,IDLE,5.00"]
        let others = ["c,VEND,SUCCESS", "c,ERR,VEND 3", "c,ERR,START", "r,ACK", "d,STATUS,IDLE", "c,1"]
        func handle(_ events: [ControllerEvent]) {
            for event in events {
                switch event {
                case .vendRequested(let request):
                    #expect(requested.insert(request.id).inserted, "vend id \(request.id) reused")
                case .dispensed(let id), .dispenseFailed(let id, _):
                    #expect(approved.contains(id), "\(id) settled without approval")
                    #expect(settled.insert(id).inserted, "\(id) settled twice")
                case .vendAborted(let id):
                    #expect(requested.contains(id) && !approved.contains(id))
                    #expect(settled.insert(id).inserted)
                case .malformed(_, let reason):
                    #expect(!reason.isEmpty)
                case .hello, .unavailable, .ping:
                    break
                }
            }
        }

        for _ in 0..<20000 {
            switch Int.random(in: 0..<10, using: &g) {
            case 0, 1:
                if let id = pending {
                    if Bool.random(using: &g) {
                        let lines = codec.encode(.dispense(id, price: money(&g, Self.usd)))
                        if !lines.isEmpty { approved.insert(id) }
                        #expect(lines.count <= 1 && lines.allSatisfy { $0.hasPrefix("C,VEND,") && $0 != "C,VEND,-1" })
                    } else {
                        let lines = codec.encode(.deny(id, .timeout))
                        #expect(lines.isEmpty || lines == ["C,VEND,-1", "C,STOP"])
                    }
                }
            case 2:
                let line = "c,STATUS,VEND,\(money(&g, Self.usd).decimalString),\(token(&g, 1...16))"
                var bytes = Array(line.utf8)
                if Bool.random(using: &g) { bytes = mutate(line, &g) }
                handle(codec.decode(String(decoding: bytes, as: UTF8.self)))
            case 3, 4, 5:
                handle(codec.decode(statuses.randomElement(using: &g)!))
            default:
                let line = others.randomElement(using: &g)!
                let text = Int.random(in: 0..<4, using: &g) == 0 ? String(decoding: mutate(line, &g), as: UTF8.self) : line
                handle(codec.decode(text))
            }
            pending = codec.pendingVend
        }
        #expect(requested.count > 100)
        #expect(settled.count > 10)
    }

    @Test func mdbCommandsRoundTripThroughTheWire() {
        var g = SplitMix64(seed: 12)
        let sequence = VendIDSequence(prefix: "rt")
        var codec = QibixxMDBCodec(currency: Self.usd, makeVendID: { sequence.make() })
        _ = codec.decode("c,STATUS,ENABLED")
        for _ in 0..<2000 {
            _ = codec.decode("c,STATUS,VEND,\(money(&g, Self.usd).decimalString),\(token(&g, 1...16))")
            let id = codec.pendingVend!
            let price = money(&g, Self.usd)
            let dispense = codec.encode(.dispense(id, price: price))
            #expect(dispense.count == 1)
            #expect(QibixxMDBMachineSide.command(from: dispense[0], currency: Self.usd, id: id) == .dispense(id, price: price))
            _ = codec.decode("c,VEND,SUCCESS")
            let text = words(&g)
            for line in codec.encode(.displayText(text)) {
                guard case .displayText(let shown)? = QibixxMDBMachineSide.command(from: line, currency: Self.usd, id: id) else {
                    Issue.record("display line \(line) does not read back")
                    continue
                }
                #expect(text.hasPrefix(shown) && shown.count <= 32)
            }
        }
    }
}
