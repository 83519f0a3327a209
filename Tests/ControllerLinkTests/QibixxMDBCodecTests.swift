import ControllerLink
import KioskCore
import Testing

/// A codec whose vend ids count mdb-1, mdb-2, ...
func makeMDBCodec(currency: Currency = Currency(iso: "EUR")!) -> QibixxMDBCodec {
    let sequence = VendIDSequence(prefix: "mdb")
    return QibixxMDBCodec(currency: currency, makeVendID: { sequence.make() })
}

@Suite("QibixxMDBCodec")
struct QibixxMDBCodecTests {
    static let eur = Currency(iso: "EUR")!
    static func euros(_ cents: Int64) -> Money { Money(minorUnits: cents, currency: eur) }
    static let id1 = VendID("mdb-1")!
    static let id2 = VendID("mdb-2")!

    private func decodeAll(_ codec: inout QibixxMDBCodec, _ lines: [String]) -> [ControllerEvent] {
        lines.flatMap { codec.decode($0) }
    }

    @Test func enableSequenceReportsUnavailableThenOneHello() {
        var codec = makeMDBCodec()
        let events = decodeAll(&codec, ["c,1", "c,STATUS,INACTIVE", "r,ACK", "c,STATUS,DISABLED", "r,ACK", "c,STATUS,ENABLED", "r,ACK"])
        #expect(events.count == 3)
        guard case .unavailable(let first) = events[0], case .unavailable(let second) = events[1] else {
            Issue.record("expected two unavailable events, got \(events)")
            return
        }
        #expect(first.contains("INACTIVE"))
        #expect(second.contains("DISABLED"))
        #expect(events[2] == .hello(name: "qibixx-mdb", version: "ENABLED"))
    }

    @Test func returningToEnabledAfterASaleIsNotAnotherHello() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        _ = codec.encode(.dispense(Self.id1, price: Self.euros(100)))
        #expect(decodeAll(&codec, ["c,VEND,SUCCESS", "c,STATUS,IDLE", "c,STATUS,ENABLED"]) == [.dispensed(Self.id1)])
    }

    @Test func vendRequestGetsASynthesizedID() {
        var codec = makeMDBCodec()
        _ = codec.decode("c,STATUS,ENABLED")
        let expected = VendRequest(id: Self.id1, product: ProductCode("5")!, price: Self.euros(100))
        #expect(codec.decode("c,STATUS,VEND,1.00,5") == [.vendRequested(expected)])
        #expect(codec.pendingVend == Self.id1)
    }

    @Test func approvedVendSuccessIsDispensed() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,2.50,12"])
        #expect(codec.encode(.dispense(Self.id1, price: Self.euros(250))) == ["C,VEND,2.50"])
        #expect(codec.decode("c,VEND,SUCCESS") == [.dispensed(Self.id1)])
        #expect(codec.pendingVend == nil)
    }

    @Test func errorAfterApprovalIsDispenseFailed() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        _ = codec.encode(.dispense(Self.id1, price: Self.euros(100)))
        #expect(codec.decode("c,ERR,VEND 3") == [.dispenseFailed(Self.id1, reason: "adapter reported ERR,VEND 3")])
    }

    @Test func machineReturningToIdleBeforeApprovalAbortsTheVend() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        #expect(decodeAll(&codec, ["c,STATUS,IDLE", "c,STATUS,ENABLED"]) == [.vendAborted(Self.id1)])
        #expect(codec.pendingVend == nil)
    }

    @Test func machineDisablingDuringAVendAbortsItThenIsUnavailable() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        let events = codec.decode("c,STATUS,DISABLED")
        #expect(events.first == .vendAborted(Self.id1))
        #expect(events.count == 2)
    }

    @Test func approvedVendEndingWithoutResultIsDispenseFailed() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        _ = codec.encode(.dispense(Self.id1, price: Self.euros(100)))
        #expect(codec.decode("c,STATUS,ENABLED") == [
            .dispenseFailed(Self.id1, reason: "the machine ended the vend without reporting its result")
        ])
    }

    @Test func newVendRequestWhilePendingAbortsTheOldOne() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        let events = codec.decode("c,STATUS,VEND,2.00,6")
        #expect(events == [
            .vendAborted(Self.id1),
            .vendRequested(VendRequest(id: Self.id2, product: ProductCode("6")!, price: Self.euros(200))),
        ])
    }

    @Test func denyOfThePendingVendSendsVendMinusOneThenStop() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        #expect(codec.encode(.deny(Self.id1, .timeout)) == ["C,VEND,-1", "C,STOP"])
        #expect(codec.pendingVend == nil)
        // The adapter may complain that no session was left to stop: not an error for us.
        #expect(codec.decode("c,ERR,STOP").isEmpty)
        #expect(decodeAll(&codec, ["c,STATUS,IDLE", "c,STATUS,ENABLED"]).isEmpty)
    }

    @Test func dispenseOrDenyForAnotherVendSendsNothing() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        #expect(codec.encode(.dispense(Self.id2, price: Self.euros(100))).isEmpty)
        #expect(codec.encode(.deny(Self.id2, .timeout)).isEmpty)
        #expect(codec.pendingVend == Self.id1)
    }

    @Test func secondDispenseOfTheSameVendSendsNothing() {
        var codec = makeMDBCodec()
        _ = decodeAll(&codec, ["c,STATUS,ENABLED", "c,STATUS,VEND,1.00,5"])
        #expect(codec.encode(.dispense(Self.id1, price: Self.euros(100))) == ["C,VEND,1.00"])
        #expect(codec.encode(.dispense(Self.id1, price: Self.euros(100))).isEmpty)
    }

    @Test func commandsEncodeToAdapterLines() {
        var codec = makeMDBCodec()
        #expect(codec.encode(.ready) == ["C,1"])
        #expect(codec.encode(.outOfService(reason: "API down")) == ["C,0"])
        #expect(codec.encode(.accept(Self.id1)).isEmpty)
        #expect(codec.encode(.pong).isEmpty)
        #expect(codec.encode(.error(message: "x")).isEmpty)
        #expect(codec.encode(.displayText("Scan the QR code to pay now, please")) == ["C,DISPLAY,Scan the QR code to pay now, ple"])
        #expect(codec.encode(.displayText("\n")).isEmpty)
    }

    @Test func noiseLinesAreIgnored() {
        var codec = makeMDBCodec()
        #expect(decodeAll(&codec, ["r,ACK", "d,STATUS,IDLE", "D,READER,1", "c,1", "c,0", "c,STATUS,ENABLED   "]).count == 1)
    }

    @Test func malformedAdapterLinesAreReported() {
        var codec = makeMDBCodec()
        for line in [
            "hello", "c", "c,STATUS", "c,STATUS,BOGUS", "c,STATUS,VEND,1.00", "c,STATUS,VEND,abc,5", "c,STATUS,VEND,1.001,5",
            "c,STATUS,VEND,1.00,bad/product", "c,STATUS,VEND,0.00,5", "c,VEND,SUCCESS", "c,VEND,MAYBE", "c,ERR,VEND 3",
            "c,WHAT", "c,STATUS,ENABLED,1",
        ] {
            let events = codec.decode(line)
            guard events.count == 1, case .malformed(let echoed, let reason) = events[0] else {
                Issue.record("'\(line)' should be malformed, got \(events)")
                continue
            }
            #expect(echoed == line)
            #expect(!reason.isEmpty)
        }
    }

    @Test func readyAfterHelloFromAnAdapterTheBoardEnabledSendsNothing() {
        var codec = makeMDBCodec()
        #expect(codec.encode(.ready) == ["C,1"])
        #expect(decodeAll(&codec, ["c,1", "c,STATUS,INACTIVE", "c,STATUS,DISABLED", "c,STATUS,ENABLED"]).last
            == .hello(name: "qibixx-mdb", version: "ENABLED"))
        #expect(codec.encode(.ready).isEmpty)
    }

    @Test func helloFromAnAdapterTheBoardNeverEnabledIsAnsweredWithEnable() {
        var codec = makeMDBCodec()
        _ = codec.decode("c,STATUS,ENABLED")
        #expect(codec.encode(.ready) == ["C,1"])
    }

    @Test func readyAfterOutOfServiceEnablesAgain() {
        var codec = makeMDBCodec()
        _ = codec.encode(.ready)
        _ = codec.decode("c,STATUS,ENABLED")
        #expect(codec.encode(.outOfService(reason: "API down")) == ["C,0"])
        #expect(codec.encode(.ready) == ["C,1"])
    }

    @Test func reopenedLinkForgetsTheEnable() {
        var codec = makeMDBCodec()
        _ = codec.encode(.ready)
        _ = codec.decode("c,STATUS,ENABLED")
        codec.linkDidOpen()
        #expect(codec.encode(.ready) == ["C,1"])
    }
}
