import ControllerLink
import KioskCore
import KioskTestSupport
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
        case 1:
            return .vendRequested(
                VendRequest(id: id, product: ProductCode(token(&g, 1...16))!, price: money(&g, Self.usd)))
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

    /// Random adapter lines (valid, mutated, garbage), liveness beats, reopens and daemon
    /// commands, including adversarial ones. Whatever comes in: an approval (`C,VEND,<amount>`)
    /// goes out only when the daemon asks to dispense the open vend at its price, because it
    /// was paid, and at most once per vend id; every vend settles at most once, outcomes only
    /// for approved vends; `C,0` never goes out while a vend is open; nothing crashes.
    @Test func mdbRandomSessionsKeepMoneySafetyInvariants() {
        var g = SplitMix64(seed: 11)
        let sequence = VendIDSequence(prefix: "f")
        var codec = VendNumbering(
            QibixxMDBCodec(currency: Self.usd, settings: QibixxSettings(decimalPlaces: 2, scaleFactor: 1)),
            makeVendID: { sequence.make() })
        var requested: [VendID: Money] = [:]
        var paid: Set<VendID> = []
        var approved: Set<VendID> = []
        var settled: Set<VendID> = []
        var outcomes = 0
        let vocabulary = [
            "c,STATUS,INACTIVE", "c,STATUS,DISABLED", "c,STATUS,ENABLED", "c,STATUS,IDLE", "c,STATUS,IDLE,0",
            "c,VEND,SUCCESS", "c,VEND,SUCCESS,1.00,5", "c,ERR,VEND 3", "c,ERR,VEND 1", "c,ERR,VEND 5",
            "c,ERR,\"VEND -3\"",
            "c,ERR,\"VEND -2\"", "c,ERR,\"cashless is on\"", "c,ERR,\"cashless is off\"", "c,ERR,\"STOP -3\"",
            "c,ERR,\"START -3\"", "c,ERR,\"SETCONF -2\"", "c,SET,OK", "c,1", "c,0", "r,ACK", "v,4.1.7,0x2F",
            "d,STATUS,IDLE",
            "c,UNKNOWN,\" C\"",
        ]
        func isApproval(_ line: String) -> Bool { line.hasPrefix("C,VEND,") && line != "C,VEND,-1" }
        func check(_ events: [ControllerEvent], _ lines: [String], from what: String) {
            for event in events {
                switch event {
                case .vendRequested(let request):
                    #expect(requested[request.id] == nil, "vend id \(request.id) reused")
                    requested[request.id] = request.price
                case .dispensed(let id), .dispenseFailed(let id, _), .dispenseUnknown(let id, _):
                    #expect(approved.contains(id), "\(id) has an outcome without approval")
                    #expect(settled.insert(id).inserted, "\(id) settled twice")
                    outcomes += 1
                case .vendAborted(let id):
                    #expect(requested[id] != nil && !approved.contains(id), "\(id) aborted after approval")
                    #expect(settled.insert(id).inserted, "\(id) settled twice")
                case .malformed(_, let reason), .unavailable(let reason), .setUpRefused(let reason):
                    #expect(!reason.isEmpty)
                case .hello, .ping, .setUpDone:
                    break
                }
            }
            #expect(!lines.contains(where: isApproval), "\(what) sent an approval: \(lines)")
            if lines.contains("C,0") { #expect(codec.pendingVend == nil, "\(what) sent C,0 with a vend open") }
        }

        for _ in 0..<40_000 {
            switch Int.random(in: 0..<16, using: &g) {
            case 0, 1:
                // The daemon dispenses only what was paid; sometimes it tries the wrong thing.
                // (The coordinator only asks to dispense paid invoices; the codec must add no
                // approval of its own and refuse every wrong one.)
                guard let id = codec.pendingVend ?? requested.keys.randomElement(using: &g) else { continue }
                if Bool.random(using: &g) { paid.insert(id) }
                guard paid.contains(id) else { continue }
                let right = requested[id]!
                let price = Int.random(in: 0..<5, using: &g) == 0 ? money(&g, Self.usd) : right
                let mayApprove =
                    paid.contains(id) && codec.pendingVend == id && price == right && !approved.contains(id)
                let lines = codec.encode(.dispense(id, price: price)) + codec.takeOutgoing()
                if lines.contains(where: isApproval) {
                    #expect(mayApprove, "approval of \(id) (paid: \(paid.contains(id)), price \(price) vs \(right))")
                    #expect(lines.count == 1)
                    approved.insert(id)
                } else {
                    #expect(lines.isEmpty)
                }
            case 2:
                guard let id = codec.pendingVend ?? requested.keys.randomElement(using: &g) else { continue }
                let lines = codec.encode(.deny(id, .timeout))
                check([], lines + codec.takeOutgoing(), from: "deny")
            case 3:
                let line = "c,STATUS,VEND,\(money(&g, Self.usd).decimalString),\(token(&g, 1...16))"
                let text = Bool.random(using: &g) ? String(decoding: mutate(line, &g), as: UTF8.self) : line
                check(codec.decode(text), codec.takeOutgoing(), from: "decode \(text)")
            case 4:
                let bytes = (0..<Int.random(in: 0...40, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
                check(codec.decode(String(decoding: bytes, as: UTF8.self)), codec.takeOutgoing(), from: "garbage")
            case 5:
                check(codec.tick(), codec.takeOutgoing(), from: "tick")
            case 6:
                if Int.random(in: 0..<4, using: &g) == 0 { codec.linkDidOpen() }
                check([], codec.encode(.ready) + codec.takeOutgoing(), from: "ready")
                // Mostly a cooperative adapter: it takes every parameter.
                var answers = 0
                while !codec.isSetUp, answers < 8, Int.random(in: 0..<10, using: &g) > 0 {
                    check(codec.decode("c,SET,OK"), codec.takeOutgoing(), from: "c,SET,OK")
                    answers += 1
                }
            case 7:
                check([], codec.encode(.outOfService(reason: "x")) + codec.takeOutgoing(), from: "out of service")
            default:
                let line = vocabulary.randomElement(using: &g)!
                let text =
                    Int.random(in: 0..<5, using: &g) == 0 ? String(decoding: mutate(line, &g), as: UTF8.self) : line
                check(codec.decode(text), codec.takeOutgoing(), from: "decode \(text)")
            }
        }
        #expect(requested.count > 500)
        #expect(approved.count > 50)
        #expect(outcomes > 20)
    }

    @Test func mdbCommandsRoundTripThroughTheWire() {
        var g = SplitMix64(seed: 12)
        let sequence = VendIDSequence(prefix: "rt")
        var codec = VendNumbering(QibixxMDBCodec(currency: Self.usd), makeVendID: { sequence.make() })
        _ = codec.encode(.ready)
        while !codec.isSetUp { _ = codec.decode("c,SET,OK") }
        _ = codec.decode("c,STATUS,ENABLED")
        for _ in 0..<2000 {
            guard
                case .vendRequested(let request)? = codec.decode(
                    "c,STATUS,VEND,\(money(&g, Self.usd).decimalString),\(token(&g, 1...16))"
                ).last
            else {
                Issue.record("a valid vend request must decode")
                continue
            }
            let id = request.id
            let price = request.price
            let dispense = codec.encode(.dispense(id, price: price))
            #expect(dispense.count == 1)
            #expect(
                QibixxMDBMachineSide.command(from: dispense[0], currency: Self.usd, id: id)
                    == .dispense(id, price: price))
            _ = codec.decode("c,VEND,SUCCESS")
            let text = words(&g)
            for line in codec.encode(.displayText(text)) {
                guard
                    case .displayText(let shown)? = QibixxMDBMachineSide.command(from: line, currency: Self.usd, id: id)
                else {
                    Issue.record("display line \(line) does not read back")
                    continue
                }
                #expect(text.hasPrefix(shown) && shown.count <= 32)
            }
        }
    }
}
