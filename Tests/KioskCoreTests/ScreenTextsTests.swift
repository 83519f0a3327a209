import KioskCore
import Testing

@Suite("Screen texts: one catalogue, eight languages, money as each writes it")
struct ScreenTextsTests {
    static let nbsp = "\u{00A0}"

    func money(_ minor: Int64, _ code: String) -> Money { Money(minorUnits: minor, currency: Currency(iso: code)!) }

    @Test("every shipped language has every text", arguments: ScreenLanguage.allCases)
    func everyLanguageIsComplete(language: ScreenLanguage) {
        let table = ScreenCatalogue.table(language)
        let missing = ScreenTextKey.allCases.filter { table[$0] == nil }
        #expect(missing.isEmpty, "\(language) lacks \(missing.map(\.rawValue))")
    }

    @Test("a shipped text holds exactly its placeholders, in every language", arguments: ScreenLanguage.allCases)
    func shippedPlaceholders(language: ScreenLanguage) {
        for key in ScreenTextKey.allCases {
            let text = ScreenCatalogue.text(key, in: language)
            #expect(ScreenTexts.unknownPlaceholders(in: text, for: key).isEmpty, "\(language) \(key)")
            for name in key.placeholders { #expect(text.contains("{\(name)}"), "\(language) \(key) lacks {\(name)}") }
        }
    }

    @Test("the languages differ from English where a customer reads them")
    func translationsAreTranslated() {
        for language in ScreenLanguage.allCases where language != .en {
            #expect(
                ScreenCatalogue.text(.outOfServiceBody, in: language)
                    != ScreenCatalogue.text(.outOfServiceBody, in: .en))
            #expect(ScreenCatalogue.text(.refundDue, in: language) != ScreenCatalogue.text(.refundDue, in: .en))
        }
    }

    @Test("an override replaces one text and keeps the rest; placeholders are filled in")
    func overrides() {
        let texts = ScreenTexts(language: .de, overrides: [.idleMessage: "Bitte wählen"])
        #expect(texts[.idleMessage] == "Bitte wählen")
        #expect(texts[.cancelledHeading] == "Abgebrochen")
        #expect(texts.text(.dispensing, ["product": "Wasser"]) == "Wasser wird ausgegeben…")
        #expect(
            ScreenTexts(language: .fr).text(.customerReference, ["customer_reference": "K7M-4QX"])
                == "Votre référence\u{00A0}: K7M-4QX")
    }

    @Test("placeholders a text does not take are found")
    func unknownPlaceholders() {
        #expect(ScreenTexts.unknownPlaceholders(in: "Noch {time} {tme} {time}", for: .timeLeft) == ["tme"])
        #expect(ScreenTexts.unknownPlaceholders(in: "Hallo {product}", for: .idleMessage) == ["product"])
        #expect(ScreenTexts.unknownPlaceholders(in: "{customer_reference}", for: .customerReference).isEmpty)
        #expect(ScreenTexts.unknownPlaceholders(in: "a { b", for: .idleMessage).isEmpty)
    }

    @Test(
        "money is written exactly, as each language writes it",
        arguments: [
            (ScreenLanguage.en, 150, "USD", "$1.50"),
            (.en, 150, "EUR", "€1.50"),
            (.en, 150, "CHF", "CHF\u{00A0}1.50"),
            (.en, 150_000, "JPY", "¥150,000"),
            (.en, 123_456_789, "USD", "$1,234,567.89"),
            (.de, 150, "EUR", "1,50\u{00A0}€"),
            (.de, 123_456, "EUR", "1.234,56\u{00A0}€"),
            (.fr, 150, "EUR", "1,50\u{00A0}€"),
            (.fr, 123_456, "EUR", "1\u{202F}234,56\u{00A0}€"),
            (.es, 5, "EUR", "0,05\u{00A0}€"),
            (.it, 150, "EUR", "1,50\u{00A0}€"),
            (.pt, 150, "EUR", "1,50\u{00A0}€"),
            (.nl, 150, "EUR", "€\u{00A0}1,50"),
            (.pl, 150, "PLN", "1,50\u{00A0}zł"),
            (.pl, 150, "EUR", "1,50\u{00A0}€"),
            (.de, 1500, "KWD", "1,500\u{00A0}KWD"),
            (.en, 0, "USD", "$0.00"),
        ])
    func prices(language: ScreenLanguage, minor: Int64, code: String, expected: String) {
        #expect(ScreenTexts(language: language).price(money(minor, code)) == expected)
    }
}

@Suite("Customer reference")
struct CustomerReferenceTests {
    @Test("six symbols of the unambiguous alphabet, 3-3, the same for the same trade_no")
    func shape() {
        let tradeNo = TradeNo("VVM005-20261207T210000Z-000123")
        let reference = tradeNo.customerReference
        #expect(reference == CustomerReference(TradeNo("VVM005-20261207T210000Z-000123")))
        #expect(reference.text.count == 7)
        #expect(Array(reference.text)[3] == "-")
        let allowed = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        #expect(reference.text.filter { $0 != "-" }.allSatisfy { allowed.contains($0) })
    }

    @Test("pinned values: the derivation never changes between versions (journals and screens must agree)")
    func pinned() {
        #expect(TradeNo("T-1").customerReference.text == "6MA-WFR")
        #expect(TradeNo("VVM005-20261207T210000Z-000123").customerReference.text == "EFT-GMC")
    }

    @Test("ten thousand consecutive trade_nos of one machine give ten thousand references")
    func consecutiveAreDistinct() {
        var seen = Set<String>()
        for n in 0..<10_000 {
            let padded = String(repeating: "0", count: 6 - String(n).count) + String(n)
            seen.insert(TradeNo("VVM005-20261207T210000Z-\(padded)").customerReference.text)
        }
        #expect(seen.count == 10_000)
    }

    @Test("a reference read aloud or typed sloppily finds the same reference")
    func typed() {
        let reference = TradeNo("T-1").customerReference
        let sloppy = reference.text.lowercased().replacingAll("-", with: " ").replacingAll("0", with: "o")
            .replacingAll("1", with: "l")
        #expect(CustomerReference(typed: sloppy) == reference)
        #expect(CustomerReference(typed: "k7m 4qo")?.text == "K7M-4Q0")
        #expect(CustomerReference(typed: "il0-OLI")?.text == "110-011")
        #expect(CustomerReference(typed: "K7M-4Q") == nil)
        #expect(CustomerReference(typed: "K7M-4QU") == nil)
    }
}
