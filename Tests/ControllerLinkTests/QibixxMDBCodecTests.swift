import ControllerLink
import KioskCore
import Testing

/// The codec with the link's vend numbering, as the link drives it.
typealias MDBCodec = VendNumbering<QibixxMDBCodec>

/// A codec whose vend ids count mdb-1, mdb-2, ...
func makeMDBCodec(
    currency: Currency = Currency(iso: "EUR")!, settings: QibixxSettings? = nil
) -> MDBCodec {
    let sequence = VendIDSequence(prefix: "mdb")
    return VendNumbering(QibixxMDBCodec(currency: currency, settings: settings), makeVendID: { sequence.make() })
}

/// A codec set up and enabled, the machine reporting ENABLED (the state a sale starts from).
func enabledMDBCodec(currency: Currency = Currency(iso: "EUR")!, settings: QibixxSettings? = nil) -> MDBCodec {
    var codec = makeMDBCodec(currency: currency, settings: settings)
    _ = codec.encode(.ready)
    while !codec.isSetUp { _ = codec.decode("c,SET,OK") }
    _ = codec.takeOutgoing()
    for line in ["c,STATUS,INACTIVE", "c,1", "r,ACK", "c,STATUS,DISABLED", "c,STATUS,ENABLED"] {
        _ = codec.decode(line)
    }
    _ = codec.takeOutgoing()
    return codec
}

@Suite("QibixxMDBCodec")
struct QibixxMDBCodecTests {
    static let eur = Currency(iso: "EUR")!
    static func euros(_ cents: Int64) -> Money { Money(minorUnits: cents, currency: eur) }
    static let id1 = VendID("mdb-1")!
    static let id2 = VendID("mdb-2")!

    private func decodeAll(_ codec: inout MDBCodec, _ lines: [String]) -> [ControllerEvent] {
        lines.flatMap { codec.decode($0) }
    }

    private func isMalformed(_ events: [ControllerEvent]) -> Bool {
        guard events.count == 1, case .malformed = events[0] else { return false }
        return true
    }

    /// Opens a vend for 1.00 (mdb-1) and approves it.
    private func approvedVend(_ codec: inout MDBCodec) {
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        #expect(codec.encode(.dispense(Self.id1, price: Self.euros(100))) == ["C,VEND,1.00"])
    }

    // MARK: set-up

    @Test func setUpDisablesSetsEachParameterAfterTheLastIsTakenThenEnables() {
        var codec = makeMDBCodec(settings: QibixxSettings(decimalPlaces: 2, scaleFactor: 1, vendTimeoutSeconds: 60))
        #expect(codec.encode(.ready) == ["C,0", "C,SETCONF,mdb-always-idle=1"])
        #expect(codec.decode("c,0").isEmpty)
        #expect(codec.takeOutgoing().isEmpty)
        var sent: [String] = []
        for _ in 0..<4 {
            #expect(codec.decode("c,SET,OK").isEmpty)
            sent += codec.takeOutgoing()
        }
        #expect(
            sent == [
                "C,SETCONF,mdb-currency-code=0x1978", "C,SETCONF,mdb-decimal-places=2", "C,SETCONF,mdb-scale-factor=1",
                "C,SETCONF,mdb-timeout-vend=60",
            ])
        #expect(!codec.isSetUp)
        _ = codec.decode("c,SET,OK")
        #expect(codec.takeOutgoing() == ["C,1"])
        #expect(codec.isSetUp)
        let events = decodeAll(
            &codec, ["c,STATUS,INACTIVE", "c,1", "r,ACK", "c,STATUS,DISABLED", "r,ACK", "c,STATUS,ENABLED"])
        #expect(events.count == 3)
        #expect(events.last == .hello(name: "qibixx-mdb", version: "ENABLED"))
        #expect(codec.takeOutgoing().isEmpty)  // the solicited INACTIVE does not restart the set-up
    }

    @Test func aRefusedParameterIsNamedWithItsConfigKeyAndTheReaderStaysDisabled() {
        var codec = makeMDBCodec()
        _ = codec.encode(.ready)
        _ = codec.decode("c,SET,OK")
        _ = codec.decode("c,SET,OK")
        _ = codec.takeOutgoing()
        let events = codec.decode("c,ERR,\"SETCONF -2\"")
        guard events.count == 1, case .setUpRefused(let reason) = events[0] else {
            Issue.record("expected setUpRefused, got \(events)")
            return
        }
        #expect(reason.contains("C,SETCONF,mdb-decimal-places=2"))
        #expect(reason.contains("qibixx.decimal_places"))
        #expect(codec.takeOutgoing().isEmpty)
        #expect(!codec.isSetUp)
        // The next .ready tries again from the start; when every parameter is accepted the
        // codec says so (the service gate's adapter cause clears) and enables the reader.
        #expect(codec.encode(.ready) == ["C,0", "C,SETCONF,mdb-always-idle=1"])
        var last: [ControllerEvent] = []
        var steps = 0
        while !codec.isSetUp, steps < 10 {
            last = codec.decode("c,SET,OK")
            steps += 1
        }
        #expect(last == [.setUpDone])
        #expect(codec.takeOutgoing().last == "C,1")
    }

    @Test func cashlessIsOffAnsweringTheDisableDoesNotStopTheSetUp() {
        var codec = makeMDBCodec()
        _ = codec.encode(.ready)
        #expect(codec.decode("c,ERR,\"cashless is off\"").isEmpty)
        _ = codec.decode("c,SET,OK")
        #expect(codec.takeOutgoing() == ["C,SETCONF,mdb-currency-code=0x1978"])
    }

    @Test func setUpOutOfServiceConfiguresButDoesNotEnable() {
        var codec = makeMDBCodec()
        #expect(codec.encode(.outOfService(reason: "API down")) == ["C,0", "C,SETCONF,mdb-always-idle=1"])
        for _ in 0..<4 { _ = codec.decode("c,SET,OK") }
        #expect(codec.isSetUp)
        #expect(!codec.takeOutgoing().contains("C,1"))
        // Back in service: the whole set-up again (the adapter may have power-cycled while off).
        #expect(codec.encode(.ready) == ["C,0", "C,SETCONF,mdb-always-idle=1"])
    }

    @Test func startSessionModeOpensASessionWhenEnabledAndClosesItBeforeDisabling() {
        var codec = enabledMDBCodec(settings: QibixxSettings(sessionMode: .startSession, decimalPlaces: 2))
        // enabledMDBCodec drained the C,START; ENABLED again (e.g. after a sale) opens a new one.
        _ = codec.decode("c,STATUS,ENABLED")
        #expect(codec.takeOutgoing() == ["C,START,0"])
        _ = codec.decode("c,STATUS,IDLE,0")
        #expect(codec.encode(.outOfService(reason: "API down")) == ["C,STOP", "C,0"])
    }

    @Test func startSessionModeSetsAlwaysIdleOff() {
        var codec = makeMDBCodec(settings: QibixxSettings(sessionMode: .startSession))
        #expect(codec.encode(.ready) == ["C,0", "C,SETCONF,mdb-always-idle=0"])
    }

    // MARK: outcomes

    @Test func vendSuccessWithTrailingFieldsIsDispensed() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        #expect(codec.decode("c,VEND,SUCCESS,1.00,5") == [.dispensed(Self.id1)])
        #expect(decodeAll(&codec, ["c,STATUS,IDLE", "c,STATUS,ENABLED"]).isEmpty)
    }

    @Test func vend3AfterApprovalIsAFailedDispense() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        guard case .dispenseFailed(Self.id1, let reason)? = codec.decode("c,ERR,VEND 3").first else {
            Issue.record("VEND 3 after approval must fail the dispense")
            return
        }
        #expect(reason.contains("VEND 3"))
    }

    @Test func vend1BeforeApprovalIsTheMachineCancelling() {
        var codec = enabledMDBCodec()
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        #expect(codec.decode("c,ERR,VEND 1") == [.vendAborted(Self.id1)])
        #expect(decodeAll(&codec, ["c,STATUS,IDLE", "c,STATUS,ENABLED"]).isEmpty)
    }

    @Test func errorsThatAreNoOutcomeChangeNothingAfterApproval() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        _ = codec.decode("r,ACK")
        for line in [
            "c,ERR,\"cashless is on\"", "c,ERR,\"STOP -3\"", "c,ERR,\"START -3\"", "c,ERR,\"VEND -3\"", "c,ERR,VEND 1",
            "c,ERR,\"VEND -2\"", "c,UNKNOWN,\" C\"",
        ] {
            #expect(isMalformed(codec.decode(line)), "\(line)")
        }
        #expect(codec.pendingVend == Self.id1)
        #expect(codec.decode("c,VEND,SUCCESS") == [.dispensed(Self.id1)])
    }

    @Test func cashlessIsOnAfterApprovalThenSuccessIsDispensed() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        #expect(isMalformed(codec.decode("c,ERR,\"cashless is on\"")))
        #expect(isMalformed(codec.decode("c,ERR,\"STOP -3\"")))
        #expect(isMalformed(codec.decode("c,ERR,\"VEND -3\"")))  // not the answer to C,VEND: a line came between
        #expect(codec.decode("c,VEND,SUCCESS") == [.dispensed(Self.id1)])
    }

    @Test func vendMinus3AnsweringTheApprovalMeansNothingWasCredited() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        _ = codec.decode("r,ACK")
        guard case .dispenseFailed(Self.id1, let reason)? = codec.decode("c,ERR,\"VEND -3\"").first else {
            Issue.record("VEND -3 answering C,VEND must fail the dispense")
            return
        }
        #expect(reason.contains("nothing was credited"))
    }

    @Test func approvedVendEndingWithoutAResultIsUnknownNeverFailed() {
        for ending in [
            ["c,STATUS,ENABLED"], ["c,STATUS,IDLE"], ["c,STATUS,DISABLED"], ["c,STATUS,INACTIVE"], ["c,ERR,VEND 5"],
            ["c,STATUS,VEND,2.00,6"],
        ] {
            var codec = enabledMDBCodec()
            approvedVend(&codec)
            let events = decodeAll(&codec, ending)
            guard case .dispenseUnknown(Self.id1, let reason)? = events.first else {
                Issue.record("\(ending) after approval must be dispenseUnknown, got \(events)")
                continue
            }
            #expect(!reason.isEmpty)
            #expect(!events.contains { if case .dispenseFailed = $0 { return true } else { return false } })
        }
    }

    @Test func vendNotApprovedEndingIsAborted() {
        var codec = enabledMDBCodec()
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        #expect(decodeAll(&codec, ["c,STATUS,IDLE", "c,STATUS,ENABLED"]) == [.vendAborted(Self.id1)])
    }

    // MARK: requests the daemon cannot serve

    @Test func unservableVendRequestsAreDeniedAtOnce() {
        for line in [
            "c,STATUS,VEND,abc,5", "c,STATUS,VEND,1.005,5", "c,STATUS,VEND,1.00,bad/product", "c,STATUS,VEND,0.00,5",
            "c,STATUS,VEND,1.00", "c,STATUS,VEND,-1.00,5", "c,STATUS,VEND,99999999999999999,5",
        ] {
            var codec = enabledMDBCodec()
            #expect(isMalformed(codec.decode(line)), "\(line)")
            #expect(codec.takeOutgoing() == ["C,VEND,-1"], "\(line)")
            #expect(codec.pendingVend == nil)
        }
    }

    @Test func tooManyDecimalsForTheAdapterIsDenied() {
        var codec = enabledMDBCodec(settings: QibixxSettings(decimalPlaces: 1))
        #expect(isMalformed(codec.decode("c,STATUS,VEND,1.05,5")))
        #expect(codec.takeOutgoing() == ["C,VEND,-1"])
        let request = VendRequest(id: Self.id1, product: ProductCode("5")!, price: Self.euros(150))
        #expect(codec.decode("c,STATUS,VEND,1.5,5") == [.vendRequested(request)])
    }

    @Test func amountsAreReadWithTheScaleFactorAndApprovedAsTheAdapterWroteThem() {
        let jpy = Currency(iso: "JPY")!
        var codec = enabledMDBCodec(currency: jpy, settings: QibixxSettings(decimalPlaces: 0, scaleFactor: 10))
        let price = Money(minorUnits: 1500, currency: jpy)
        #expect(
            codec.decode("c,STATUS,VEND,150,12") == [
                .vendRequested(VendRequest(id: Self.id1, product: ProductCode("12")!, price: price))
            ])
        // A dispense whose price is not the vend's is not sent.
        #expect(codec.encode(.dispense(Self.id1, price: Money(minorUnits: 150, currency: jpy))).isEmpty)
        #expect(codec.encode(.dispense(Self.id1, price: price)) == ["C,VEND,150"])
    }

    @Test func aVendIDThatCannotBeReservedIsDeniedAtOnce() {
        var codec = VendNumbering(QibixxMDBCodec(currency: Self.eur), makeVendID: { nil })
        _ = codec.decode("c,STATUS,ENABLED")
        #expect(isMalformed(codec.decode("c,STATUS,VEND,1.00,5")))
        #expect(codec.takeOutgoing() == ["C,VEND,-1"])
    }

    // MARK: out of service

    @Test func outOfServiceWaitsForTheEndOfTheVend() {
        var codec = enabledMDBCodec()
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        #expect(codec.encode(.outOfService(reason: "API down")).isEmpty)
        #expect(codec.encode(.deny(Self.id1, .unavailable)) == ["C,VEND,-1", "C,STOP", "C,0"])

        var approved = enabledMDBCodec()
        approvedVend(&approved)
        #expect(approved.encode(.outOfService(reason: "API down")).isEmpty)
        #expect(approved.decode("c,VEND,SUCCESS") == [.dispensed(Self.id1)])
        #expect(approved.takeOutgoing() == ["C,0"])
    }

    @Test func backInServiceBeforeTheVendEndsCancelsTheWaitingDisable() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        _ = codec.encode(.outOfService(reason: "API down"))
        #expect(codec.encode(.ready).isEmpty)
        _ = codec.decode("c,VEND,SUCCESS")
        #expect(codec.takeOutgoing().isEmpty)
    }

    @Test func aNewVendRequestDoesNotReleaseAWaitingDisable() {
        var codec = enabledMDBCodec()
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        _ = codec.encode(.outOfService(reason: "API down"))
        _ = codec.decode("c,STATUS,VEND,2.00,6")
        #expect(codec.takeOutgoing().isEmpty)
        #expect(codec.encode(.deny(Self.id2, .unavailable)).last == "C,0")
    }

    // MARK: reconnects, restarts, liveness

    @Test func reopenWithAnApprovedVendOnlyEnablesAndCashlessIsOnKeepsTheVend() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        codec.linkDidOpen()
        #expect(codec.encode(.ready) == ["C,1"])
        #expect(codec.decode("c,ERR,\"cashless is on\"").isEmpty)
        #expect(codec.isSetUp)
        #expect(codec.decode("c,VEND,SUCCESS") == [.dispensed(Self.id1)])
    }

    @Test func reopenWithAnApprovedVendToARestartedAdapterIsUnknownThenSetUp() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        codec.linkDidOpen()
        #expect(codec.encode(.ready) == ["C,1"])
        let events = codec.decode("c,STATUS,INACTIVE")
        guard case .dispenseUnknown(Self.id1, _)? = events.first else {
            Issue.record("a restart after approval must be dispenseUnknown, got \(events)")
            return
        }
        #expect(codec.takeOutgoing() == ["C,0", "C,SETCONF,mdb-always-idle=1"])
    }

    @Test func reopenWithoutAVendRunsTheWholeSetUp() {
        var codec = enabledMDBCodec()
        codec.linkDidOpen()
        #expect(codec.encode(.ready) == ["C,0", "C,SETCONF,mdb-always-idle=1"])
    }

    @Test func unsolicitedInactiveRunsTheSetUpAgain() {
        var codec = enabledMDBCodec()
        let events = codec.decode("c,STATUS,INACTIVE")
        #expect(events.count == 1)
        #expect(codec.takeOutgoing() == ["C,0", "C,SETCONF,mdb-always-idle=1"])
    }

    @Test func theStateProbeFindsAnAdapterThatRestartedQuickly() {
        var codec = enabledMDBCodec()
        #expect(codec.tick().isEmpty)
        #expect(codec.takeOutgoing() == ["V", "C,1"])
        #expect(codec.decode("v,4.1.7,0x2F").isEmpty)
        #expect(codec.decode("c,ERR,\"cashless is on\"").isEmpty)  // still on: nothing to do, nothing logged
        #expect(codec.takeOutgoing().isEmpty)
        _ = codec.tick()
        #expect(codec.takeOutgoing() == ["V", "C,1"])
        _ = codec.decode("v,4.1.7,0x2F")
        _ = codec.decode("c,STATUS,INACTIVE")  // it had restarted: off, set-up lost
        #expect(codec.takeOutgoing() == ["C,0", "C,SETCONF,mdb-always-idle=1"])
        _ = codec.decode("c,1")
        #expect(codec.takeOutgoing().isEmpty)  // one set-up, not two
    }

    @Test func noStateProbeWhileAVendIsOpen() {
        var codec = enabledMDBCodec()
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        _ = codec.tick()
        #expect(codec.takeOutgoing() == ["V"])
    }

    @Test func anAdapterThatStopsAnsweringTheVersionQueryIsSetUpWhenItAnswersAgain() {
        var codec = enabledMDBCodec()
        approvedVend(&codec)
        #expect(codec.tick().isEmpty)
        #expect(codec.takeOutgoing() == ["V"])
        _ = codec.decode("v,4.1.7,0x2F")
        #expect(codec.tick().isEmpty)  // answered: alive
        _ = codec.takeOutgoing()
        let events = codec.tick()  // no line since the last V
        guard events.count == 2, case .dispenseUnknown(Self.id1, _) = events[0],
            case .unavailable(let reason) = events[1]
        else {
            Issue.record("silence must end the approved vend as unknown, got \(events)")
            return
        }
        #expect(reason.contains("stopped answering"))
        #expect(codec.takeOutgoing() == ["V"])
        #expect(codec.tick().isEmpty)  // reported once
        _ = codec.takeOutgoing()
        _ = codec.decode("v,4.1.7,0x2F")
        #expect(codec.takeOutgoing() == ["C,0", "C,SETCONF,mdb-always-idle=1"])
    }

    // MARK: safety and commands

    @Test func dispenseOrDenyForAnotherVendSendsNothingAndASecondApprovalNeither() {
        var codec = enabledMDBCodec()
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        #expect(codec.encode(.dispense(Self.id2, price: Self.euros(100))).isEmpty)
        #expect(codec.encode(.deny(Self.id2, .timeout)).isEmpty)
        #expect(codec.encode(.dispense(Self.id1, price: Self.euros(100))) == ["C,VEND,1.00"])
        #expect(codec.encode(.dispense(Self.id1, price: Self.euros(100))).isEmpty)
        #expect(codec.encode(.deny(Self.id1, .timeout)).isEmpty)
    }

    @Test func denyOfThePendingVendSendsVendMinusOneThenStop() {
        var codec = enabledMDBCodec()
        _ = codec.decode("c,STATUS,VEND,1.00,5")
        #expect(codec.encode(.deny(Self.id1, .timeout)) == ["C,VEND,-1", "C,STOP"])
        #expect(isMalformed(codec.decode("c,ERR,\"STOP -3\"")))
        #expect(decodeAll(&codec, ["c,STATUS,IDLE", "c,STATUS,ENABLED"]).isEmpty)
    }

    @Test func otherCommandsEncodeToAdapterLines() {
        var codec = enabledMDBCodec()
        #expect(codec.encode(.ready).isEmpty)  // already on and enabled
        #expect(codec.encode(.accept(Self.id1)).isEmpty)
        #expect(codec.encode(.pong).isEmpty)
        #expect(
            codec.encode(.displayText("Scan the QR code to pay now, please")) == [
                "C,DISPLAY,Scan the QR code to pay now; ple"
            ])
        #expect(codec.encode(.displayText("\n")).isEmpty)
        #expect(codec.encode(.outOfService(reason: "API down")) == ["C,0"])
        #expect(codec.encode(.ready) == ["C,0", "C,SETCONF,mdb-always-idle=1"])
    }

    @Test func noiseLinesAreIgnored() {
        var codec = enabledMDBCodec()
        #expect(
            decodeAll(
                &codec,
                [
                    "r,ACK", "d,STATUS,IDLE", "D,READER,1", "c,1", "c,0", "v,4.1.7,0x2F", "c,SET,OK", "",
                    "c,STATUS,ENABLED  \r",
                ]
            ).isEmpty)
    }

    @Test func malformedAdapterLinesAreReported() {
        var codec = enabledMDBCodec()
        for line in [
            "hello", "c", "c,STATUS", "c,STATUS,BOGUS", "c,VEND,SUCCESS", "c,VEND,MAYBE", "c,ERR,VEND 3", "c,WHAT",
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
}

@Suite("QibixxAmount and settings")
struct QibixxAmountTests {
    static let usd = Currency(iso: "USD")!

    @Test func currencyCodesAreOneAndTheISONumericCode() {
        #expect(QibixxSettings.currencyCode(Self.usd) == "0x1840")
        #expect(QibixxSettings.currencyCode(Currency(iso: "AUD")!) == "0x1036")
        #expect(QibixxSettings.currencyCode(Currency(iso: "EUR")!) == "0x1978")
        for code in Currency.knownMinorDigits.keys { #expect(Currency.isoNumeric[code] != nil, "\(code)") }
    }

    @Test func pricesFollowDecimalPlacesAndScaleFactor() throws {
        let two = QibixxSettings(decimalPlaces: 2)
        #expect(try QibixxAmount.price("15.19", settings: two, currency: Self.usd).minorUnits == 1519)
        #expect(try QibixxAmount.price("15", settings: two, currency: Self.usd).minorUnits == 1500)
        let scaled = QibixxSettings(decimalPlaces: 1, scaleFactor: 5)
        #expect(try QibixxAmount.price("0.3", settings: scaled, currency: Self.usd).minorUnits == 150)
        #expect(throws: QibixxAmount.Problem.self) {
            try QibixxAmount.price("0.15", settings: scaled, currency: Self.usd)
        }
        let three = QibixxSettings(decimalPlaces: 3)
        #expect(try QibixxAmount.price("1.250", settings: three, currency: Self.usd).minorUnits == 125)
        #expect(throws: QibixxAmount.Problem.self) {
            try QibixxAmount.price("1.255", settings: three, currency: Self.usd)
        }
        for bad in ["", ".", "1.", ".5", "1,00", "+1", "-1", "0", "0.00", "1e3", "1234567890123456"] {
            #expect(throws: QibixxAmount.Problem.self, "\(bad)") {
                try QibixxAmount.price(bad, settings: two, currency: Self.usd)
            }
        }
    }
}
