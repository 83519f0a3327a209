import KioskCore
import Testing

@Suite struct MoneyTests {
    let usd = Currency(iso: "USD")!
    let jpy = Currency(iso: "JPY")!

    @Test(arguments: [("1.50", 150), ("2", 200), ("0.05", 5), ("0", 0), ("10.5", 1050), ("123456.78", 12_345_678)])
    func parsesControllerPricesExactly(text: String, cents: Int64) throws {
        #expect(try Money(parsing: text, currency: usd).minorUnits == cents)
    }

    @Test(arguments: ["", "1.", ".5", "1.505", "-1", "1,50", "1e2", "abc", " 1", "1.5.0", "0x10", "+1"])
    func rejectsWhatIsNotAControllerPrice(text: String) {
        #expect(throws: Money.ParseError.self) { try Money(parsing: text, currency: usd) }
    }

    @Test func acceptsTheAPIsTrailingZerosOnlyWhenAsked() throws {
        #expect(try Money(parsing: "1.00000000", currency: usd, allowingTrailingZeros: true).minorUnits == 100)
        #expect(throws: Money.ParseError.tooManyDigits("1.00000000", allowed: 2)) {
            try Money(parsing: "1.00000000", currency: usd)
        }
        #expect(throws: Money.ParseError.self) {
            try Money(parsing: "1.00000001", currency: usd, allowingTrailingZeros: true)
        }
    }

    @Test func printsWithTheCurrencysDigits() {
        #expect(Money(minorUnits: 150, currency: usd).decimalString == "1.50")
        #expect(Money(minorUnits: 5, currency: usd).decimalString == "0.05")
        #expect(Money(minorUnits: 300, currency: jpy).decimalString == "300")
        #expect(Money(minorUnits: 1234, currency: Currency(iso: "KWD")!).description == "1.234 KWD")
    }

    @Test func roundTripsEveryCentUpToTenDollars() throws {
        for cents in Int64(0)...1000 {
            let money = Money(minorUnits: cents, currency: usd)
            #expect(try Money(parsing: money.decimalString, currency: usd) == money)
        }
    }

    @Test func rejectsOverflow() {
        #expect(throws: Money.ParseError.self) { try Money(parsing: "99999999999999999999", currency: usd) }
    }
}

@Suite struct IdentifierTests {
    @Test func vendIDsFollowTheContract() {
        #expect(VendID("a-B_9") != nil)
        #expect(VendID(String(repeating: "x", count: 32)) != nil)
        #expect(VendID(String(repeating: "x", count: 33)) == nil)
        #expect(VendID("") == nil)
        #expect(VendID("a b") == nil)
        #expect(VendID("é") == nil)
        #expect(ProductCode(String(repeating: "7", count: 17)) == nil)
    }

    @Test func tokenNeverPrints() {
        let token = APIToken("12|SuperSecretValue")
        #expect("\(token)" == "<redacted>")
        #expect(
            token.redact("Authorization: Bearer 12|SuperSecretValue; secret=SuperSecretValue")
                == "Authorization: Bearer <redacted>; secret=<redacted>")
    }
}
