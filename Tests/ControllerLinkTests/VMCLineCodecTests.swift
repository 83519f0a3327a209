import ControllerLink
import KioskCore
import Testing

@Suite("VMCLineCodec")
struct VMCLineCodecTests {
    static let usd = Currency(iso: "USD")!

    private func decode(_ line: String) -> ControllerEvent? {
        var codec = VMCLineCodec(currency: Self.usd)
        let events = codec.decode(line)
        return events.count == 1 ? events[0] : nil
    }

    private func reason(_ line: String) -> String? {
        if case .malformed(let l, let reason) = decode(line), l == line { return reason }
        return nil
    }

    @Test func helloDecodes() {
        #expect(decode("HELLO acme-vmc 2.1.0") == .hello(name: "acme-vmc", version: "2.1.0"))
    }

    @Test func vendDecodesWithExactPrice() {
        let expected = VendRequest(
            id: VendID("v-17")!, product: ProductCode("A5")!, price: Money(minorUnits: 150, currency: Self.usd))
        #expect(decode("VEND v-17 A5 1.50") == .vendRequested(expected))
        #expect(
            decode("VEND v-18 A5 2")
                == .vendRequested(
                    VendRequest(
                        id: VendID("v-18")!, product: ProductCode("A5")!,
                        price: Money(minorUnits: 200, currency: Self.usd))))
    }

    @Test func vendPriceUsesTheCurrencyMinorDigits() {
        var yen = VMCLineCodec(currency: Currency(iso: "JPY")!)
        #expect(
            yen.decode("VEND a 1 150") == [
                .vendRequested(
                    VendRequest(
                        id: VendID("a")!, product: ProductCode("1")!,
                        price: Money(minorUnits: 150, currency: Currency(iso: "JPY")!)))
            ])
        if case .malformed(_, let reason) = yen.decode("VEND a 1 1.5").first {
            #expect(reason.contains("more than 0 digits"))
        } else {
            Issue.record("1.5 JPY must be refused")
        }
    }

    @Test func abortDispensedFailedPingDecode() {
        #expect(decode("ABORT x1") == .vendAborted(VendID("x1")!))
        #expect(decode("DISPENSED x1") == .dispensed(VendID("x1")!))
        #expect(
            decode("FAILED x1 motor jam in column 3") == .dispenseFailed(VendID("x1")!, reason: "motor jam in column 3")
        )
        #expect(decode("PING") == .ping)
    }

    @Test func priceWithTooManyDigitsIsMalformed() {
        #expect(reason("VEND a b 1.505")?.contains("more than 2 digits") == true)
    }

    @Test func negativeZeroAndNonDecimalPricesAreMalformed() {
        #expect(reason("VEND a b -1.00")?.contains("negative") == true)
        #expect(reason("VEND a b 0.00") == "price must be above zero")
        #expect(reason("VEND a b 1,50")?.contains("not a decimal") == true)
        #expect(reason("VEND a b .5")?.contains("not a decimal") == true)
        #expect(reason("VEND a b 1.")?.contains("not a decimal") == true)
    }

    @Test func doubleSpacesAndEdgeSpacesAreMalformed() {
        let expected = "fields must be separated by single spaces, with none at the start or end"
        #expect(reason("VEND a  b 1.00") == expected)
        #expect(reason(" PING") == expected)
        #expect(reason("PING ") == expected)
    }

    @Test func wrongFieldCountsAreMalformed() {
        #expect(reason("VEND a b") == "VEND takes 3 fields: VEND <id> <product> <price>")
        #expect(reason("ABORT") == "ABORT takes 1 field: ABORT <id>")
        #expect(reason("PING now") == "PING takes 0 fields: PING")
        #expect(reason("FAILED a") == "FAILED takes an id and a reason: FAILED <id> <reason...>")
        #expect(reason("HELLO x") == "HELLO takes 2 fields: HELLO <name> <version>")
    }

    @Test func badIdsAndProductsAreMalformed() {
        #expect(reason("ABORT a/b")?.contains("is not a vend id") == true)
        #expect(reason("ABORT \(String(repeating: "a", count: 33))")?.contains("is not a vend id") == true)
        #expect(reason("VEND a \(String(repeating: "p", count: 17)) 1.00")?.contains("is not a product code") == true)
    }

    @Test func lowerCaseAndUnknownKeywordsAreMalformed() {
        #expect(reason("ping")?.hasPrefix("unknown command 'ping'") == true)
        #expect(reason("RESET")?.hasPrefix("unknown command 'RESET'") == true)
    }

    @Test func controlAndNonASCIICharactersAreMalformed() {
        #expect(reason("PING\u{0}") == "only printable ASCII is allowed")
        #expect(reason("FAILED a café") == "only printable ASCII is allowed")
        #expect(reason("PING\tX") == "only printable ASCII is allowed")
    }

    @Test func commandsEncodeToContractLines() {
        var codec = VMCLineCodec(currency: Self.usd)
        let id = VendID("v-1")!
        let price = Money(minorUnits: 150, currency: Self.usd)
        #expect(codec.encode(.ready) == ["READY"])
        #expect(codec.encode(.outOfService(reason: "API unreachable")) == ["OUT-OF-SERVICE API unreachable"])
        #expect(codec.encode(.accept(id)) == ["ACCEPT v-1"])
        #expect(codec.encode(.dispense(id, price: price)) == ["DISPENSE v-1"])
        #expect(codec.encode(.deny(id, .duplicateID)) == ["DENY v-1 duplicate-id"])
        #expect(codec.encode(.deny(id, .timeout)) == ["DENY v-1 timeout"])
        #expect(codec.encode(.error(message: "price must be above zero")) == ["ERROR price must be above zero"])
        #expect(codec.encode(.pong) == ["PONG"])
        #expect(codec.encode(.displayText("hello")) == [])
    }

    @Test func freeTextIsSanitisedAndBounded() {
        var codec = VMCLineCodec(currency: Self.usd)
        let lines = codec.encode(.error(message: "bad\nline\t with  \u{7}bell é " + String(repeating: "x", count: 400)))
        #expect(lines.count == 1)
        let line = lines[0]
        #expect(line.hasPrefix("ERROR bad line with ?bell ? xxx"))
        #expect(line.utf8.count <= 256)
        #expect(line.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F })
        #expect(codec.encode(.outOfService(reason: "  ")) == ["OUT-OF-SERVICE unavailable"])
    }
}
