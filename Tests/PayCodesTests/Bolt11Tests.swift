import KioskTestSupport
import Testing

@testable import PayCodes

/// The BOLT11 specification's "1 cup coffee" example (250 000 sats, expiry 60 s).
let specCoffee =
    "lnbc2500u1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdq5xysxxatsyp3k7enxv4jsxqzpu9qrsgquk0rl77nj30yxdy8j9vdx85fkpmdla2087ne0xh8nhedh8w27kyke0lp53ut353s06fv3qfegext0eh0ymjpf39tuven09sam30g4vgpfna3rh"

@Suite("bech32")
struct Bech32Tests {
    @Test("BIP-173's valid strings decode, in either case")
    func validVectors() throws {
        for text in [
            "A12UEL5L", "a12uel5l", "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", "?1ezyfcl",
        ] {
            let (hrp, words) = try Bech32.decode(text)
            #expect(Bech32.encode(hrp: hrp, words: words) == text.lowercased())
        }
        #expect(
            try Bech32.decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw").words == Array(0...31).map(UInt8.init))
    }

    @Test("BIP-173's invalid strings are refused with the reason")
    func invalidVectors() {
        #expect(throws: Bech32.DecodeError.noSeparator) { try Bech32.decode("pzry9x0s0muk") }
        #expect(throws: Bech32.DecodeError.emptyHumanReadablePart) { try Bech32.decode("1pzry9x0s0muk") }
        #expect(throws: Bech32.DecodeError.invalidCharacter("b", position: 2)) { try Bech32.decode("x1b4n0q5v") }
        #expect(throws: Bech32.DecodeError.tooShortForChecksum) { try Bech32.decode("li1dgmt3") }
        #expect(throws: Bech32.DecodeError.badChecksum) { try Bech32.decode("A1G7SGD8") }
        #expect(throws: Bech32.DecodeError.mixedCase) { try Bech32.decode("A12uEL5L") }
        #expect(throws: Bech32.DecodeError.empty) { try Bech32.decode("") }
    }

    @Test("every single-character change of a BOLT11 string breaks its checksum")
    func checksumCatchesSubstitutions() {
        var generator = SplitMix64(seed: 0xB0_1711)
        let chars = Array(specCoffee)
        let sep = chars.lastIndex(of: "1")!
        for _ in 0..<300 {
            let i = Int.random(in: (sep + 1)..<chars.count, using: &generator)
            var changed = chars
            let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l").filter { $0 != chars[i] }
            changed[i] = alphabet.randomElement(using: &generator)!
            #expect(throws: Bech32.DecodeError.badChecksum) { try Bech32.decode(String(changed)) }
        }
    }

    @Test("bytes and words convert both ways")
    func conversions() {
        var generator = SplitMix64(seed: 5)
        for length in [0, 1, 5, 31, 32, 33, 65] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Bech32.bytes(fromWords: Bech32.words(fromBytes: bytes)) == bytes)
        }
        #expect(Bech32.integer(fromWords: Bech32.words(fromInteger: 1_496_314_658, count: 7)) == 1_496_314_658)
        #expect(Bech32.minimalWords(fromInteger: 60) == [1, 28])
    }
}

@Suite("BOLT11")
struct Bolt11Tests {
    @Test("the specification's example decodes to its amount, time, expiry and hash")
    func specExample() throws {
        let invoice = try Bolt11Invoice.decode(specCoffee)
        #expect(invoice.network == "bc")
        #expect(invoice.amountMsat == 250_000_000)
        #expect(invoice.timestamp == 1_496_314_658)
        #expect(invoice.expirySeconds == 60)
        #expect(invoice.expiresAt == 1_496_314_718)
        #expect(invoice.paymentHash == "0001020304050607080900010203040506070809000102030405060708090102")
        #expect(invoice.description == "1 cup coffee")
    }

    @Test("upper case and a lightning: prefix decode the same")
    func caseAndScheme() throws {
        let plain = try Bolt11Invoice.decode(specCoffee)
        #expect(try Bolt11Invoice.decode(specCoffee.uppercased()) == plain)
        #expect(try Bolt11Invoice.decode("lightning:" + specCoffee) == plain)
        #expect(try Bolt11Invoice.decode("LIGHTNING:" + specCoffee.uppercased()) == plain)
    }

    @Test("amounts with each multiplier, and none")
    func amounts() throws {
        #expect(try Bolt11Invoice.parseHRP("bc2500u") == ("bc", 250_000_000))
        #expect(try Bolt11Invoice.parseHRP("bc20m") == ("bc", 2_000_000_000))
        #expect(try Bolt11Invoice.parseHRP("tb1") == ("tb", 100_000_000_000))
        #expect(try Bolt11Invoice.parseHRP("bcrt150n") == ("bcrt", 15_000))
        #expect(try Bolt11Invoice.parseHRP("bc10p") == ("bc", 1))
        #expect(try Bolt11Invoice.parseHRP("bc") == ("bc", nil))
        #expect(throws: Bolt11Invoice.DecodeError.badAmount("1p")) { try Bolt11Invoice.parseHRP("bc1p") }
        #expect(throws: Bolt11Invoice.DecodeError.badAmount("01u")) { try Bolt11Invoice.parseHRP("bc01u") }
        #expect(throws: Bolt11Invoice.DecodeError.badAmount("5x")) { try Bolt11Invoice.parseHRP("bc5x") }
        #expect(throws: Bolt11Invoice.DecodeError.badAmount("99999999999999999999")) {
            try Bolt11Invoice.parseHRP("bc99999999999999999999")
        }
        for msat: UInt64 in [1, 10, 1000, 15_340_000, 250_000_000, 100_000_000_000] {
            #expect(try Bolt11Invoice.parseHRP("bc" + Bolt11Invoice.amountText(msat: msat)).1 == msat)
        }
    }

    @Test("an encoded invoice decodes to what went in; no x field means 3600 s")
    func roundTrip() throws {
        var generator = SplitMix64(seed: 42)
        func random(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        let hash = random(32)
        let text = Bolt11Invoice.encode(
            network: "tb", amountMsat: 15_340_000, timestamp: 1_780_000_000, paymentHash: hash,
            paymentSecret: random(32),
            description: "drippay sandbox quote", expirySeconds: 30, signature: random(65))
        let invoice = try Bolt11Invoice.decode(text)
        #expect(text.hasPrefix("lntb153400n1"))
        #expect(invoice.amountMsat == 15_340_000 && invoice.timestamp == 1_780_000_000 && invoice.expirySeconds == 30)
        #expect(invoice.paymentHash == Bolt11Invoice.hex(hash))
        let noExpiry = Bolt11Invoice.encode(
            network: "bc", amountMsat: nil, timestamp: 1, paymentHash: hash, paymentSecret: random(32), description: "",
            expirySeconds: nil, signature: random(65))
        #expect(try Bolt11Invoice.decode(noExpiry).expirySeconds == 3600)
        #expect(try Bolt11Invoice.decode(noExpiry).amountMsat == nil)
    }

    @Test("texts that are not invoices are refused with the reason")
    func refusals() {
        #expect(throws: Bolt11Invoice.DecodeError.notLightning(prefix: "bc")) {
            try Bolt11Invoice.decode(Bech32.encode(hrp: "bc", words: [UInt8](repeating: 0, count: 120)))
        }
        #expect(throws: Bolt11Invoice.DecodeError.tooShort(words: 20)) {
            try Bolt11Invoice.decode(Bech32.encode(hrp: "lnbc", words: [UInt8](repeating: 0, count: 20)))
        }
        // A timestamp and a signature but no payment hash.
        #expect(throws: Bolt11Invoice.DecodeError.missingPaymentHash) {
            try Bolt11Invoice.decode(Bech32.encode(hrp: "lnbc", words: [UInt8](repeating: 0, count: 7 + 104)))
        }
        // A field whose length runs into the signature.
        var words = [UInt8](repeating: 0, count: 7) + [1, 3, 31] + [UInt8](repeating: 0, count: 104)
        words[8] = 3
        #expect(throws: Bolt11Invoice.DecodeError.fieldOverrun(tag: "p")) {
            try Bolt11Invoice.decode(Bech32.encode(hrp: "lnbc", words: words))
        }
        #expect(throws: Bolt11Invoice.DecodeError.bech32(.badChecksum)) {
            try Bolt11Invoice.decode(String(specCoffee.dropLast()) + "q")
        }
    }

    @Test("random garbage never crashes the decoder")
    func garbage() {
        var generator = SplitMix64(seed: 99)
        var refused = 0
        for _ in 0..<2000 {
            let length = Int.random(in: 0..<400, using: &generator)
            let text = String(
                (0..<length).map { _ in Character(Unicode.Scalar(UInt8.random(in: 32...126, using: &generator))) })
            if (try? Bolt11Invoice.decode("lnbc1" + text)) == nil { refused += 1 }
        }
        #expect(refused == 2000)
    }
}

@Suite("Lightning text")
struct LightningTextTests {
    @Test("Lightning requests are upper-cased for drawing; anything else keeps its case")
    func upperCasing() {
        #expect(LightningText.forDrawing(specCoffee) == specCoffee.uppercased())
        #expect(LightningText.forDrawing("lightning:" + specCoffee) == "LIGHTNING:" + specCoffee.uppercased())
        #expect(LightningText.forDrawing("lnbcrt1" + "qqqqqq") == "LNBCRT1QQQQQQ")
        let url = "https://pay.example.com/i/AbC123"
        #expect(LightningText.forDrawing(url) == url)
        #expect(
            LightningText.forDrawing("lnurl1dp68gurn8ghj7um9wfmxjcm99ejhsctdwpkx2tmpwp5n7ufav93xxvfjxv5ed9lr")
                .hasPrefix("lnurl"))
        #expect(!LightningText.isLightningRequest("lightning:" + specCoffee + "?amount=1"))
        #expect(!LightningText.isLightningRequest("lnbc" + "1bad"))
        #expect(
            !LightningText.isLightningRequest(
                String(specCoffee.prefix(20)) + String(specCoffee.dropFirst(20)).uppercased()))
    }
}

@Suite("Pay code refresh schedule")
struct PayCodeScheduleTests {
    typealias Situation = PayCodeSchedule.Situation

    @Test("a code with an expiry: one fetch `lead` before it, then the burst just after it")
    func aroundExpiry() {
        let s = PayCodeSchedule(refreshSeconds: 10)
        #expect(s.nextFetch(Situation(lastFetch: 100, showingCode: true, expiresAt: 130)) == 128)
        // The fetch before the expiry brought the same code: next is just after the expiry.
        #expect(s.nextFetch(Situation(lastFetch: 128.2, showingCode: true, expiresAt: 130)) == 130.25)
        // The code went at 130: the burst, in turn, then every retryAfterFailure.
        let gone = Situation(lastFetch: 130.4, showingCode: false, codeGoneAt: 130, attemptsWithoutCode: 1)
        #expect(s.nextFetch(gone) == 131)
        #expect(
            s.nextFetch(Situation(lastFetch: 131.3, showingCode: false, codeGoneAt: 130, attemptsWithoutCode: 2))
                == 132.5)
        #expect(
            s.nextFetch(Situation(lastFetch: 135.2, showingCode: false, codeGoneAt: 130, attemptsWithoutCode: 4))
                == 138.2)
        // A burst slot already past: no closer than minimumGap to the last fetch.
        #expect(
            s.nextFetch(Situation(lastFetch: 131.9, showingCode: false, codeGoneAt: 130, attemptsWithoutCode: 1))
                == 132.15)
    }

    @Test("refresh_s paces a code without an expiry, never before the image says it may change; 0 = never")
    func withoutExpiry() {
        #expect(PayCodeSchedule(refreshSeconds: 10).nextFetch(Situation(lastFetch: 100, showingCode: true)) == 110)
        #expect(
            PayCodeSchedule(refreshSeconds: 10).nextFetch(Situation(lastFetch: 100, showingCode: true, freshUntil: 160))
                == 160)
        #expect(PayCodeSchedule(refreshSeconds: 0).nextFetch(Situation(lastFetch: 100, showingCode: true)) == nil)
        // With an expiry, refresh_s adds nothing: the expiry plans the fetches.
        #expect(
            PayCodeSchedule(refreshSeconds: 0).nextFetch(Situation(lastFetch: 100, showingCode: true, expiresAt: 130))
                == 128)
    }

    @Test("an image fresh past the code's expiry: no fetch before the expiry")
    func freshImage() {
        let s = PayCodeSchedule(refreshSeconds: 10)
        #expect(s.nextFetch(Situation(lastFetch: 100, showingCode: true, expiresAt: 130, freshUntil: 131)) == 130.25)
        #expect(s.nextFetch(Situation(lastFetch: 100, showingCode: true, expiresAt: 130, freshUntil: 120)) == 128)
    }

    @Test("nothing on screen yet, the fetch failed: retried after retryAfterFailure")
    func retry() {
        #expect(PayCodeSchedule(refreshSeconds: 10).nextFetch(Situation(lastFetch: 100, showingCode: false)) == 103)
    }

    @Test("the budget wins: never more than `budget` fetch starts in any window")
    func budget() {
        let s = PayCodeSchedule(refreshSeconds: 10, budget: 3, window: 60)
        let gone = Situation(
            lastFetch: 131, recentFetches: [100, 128, 130.25], showingCode: false, codeGoneAt: 130,
            attemptsWithoutCode: 1)
        #expect(s.nextFetch(gone) == 160)
        #expect(s.earliestWithinBudget([100, 128]) == -.infinity)
        #expect(s.earliestWithinBudget([130.25, 100, 128, 10]) == 160)
    }

    @Test("a code is showable only before its expiry")
    func showable() {
        #expect(PayCodeSchedule.isShowable(expiresAt: 110, now: 109.9))
        #expect(!PayCodeSchedule.isShowable(expiresAt: 110, now: 110))
        #expect(PayCodeSchedule.isShowable(expiresAt: nil, now: 1e12))
    }

    @Test("Strike timing, a vend held open 300 s: within 12 fetches a minute, under 1 s per quote without a code")
    func heldOpenVend() {
        let schedule = PayCodeSchedule(refreshSeconds: 10)
        for latency in [0.05, 0.3, 1.5] {
            let planned = RequoteSimulation(period: 30, lifetime: 30, latency: latency, schedule: schedule).run(
                duration: 300)
            #expect(planned.mostInWindow <= 12, "latency \(latency): \(planned.mostInWindow) fetches in a window")
            // Each quote is gone from the moment it dies until the burst's first answer.
            #expect(
                planned.secondsWithoutCode <= 10 * (0.25 + latency) + 0.01,
                "latency \(latency): \(planned.secondsWithoutCode) s without a payable code")
            #expect(planned.secondsExpiredShown == 0)
        }
        // Side by side: the schedule before re-quote planning needed more fetches than the budget
        // (so fetches waited in line) and left expired codes up meanwhile.
        let legacy = RequoteSimulation(period: 30, lifetime: 30, latency: 0.05, schedule: schedule, legacy: true)
            .run(duration: 300)
        let planned = RequoteSimulation(period: 30, lifetime: 30, latency: 0.05, schedule: schedule).run(duration: 300)
        #expect(legacy.fetches.count > planned.fetches.count)
        #expect(legacy.secondsExpiredShown > 0)
    }

    @Test("any quote timing and latency: the plan stays within its budget in every window")
    func budgetProperty() {
        var random = SplitMix64(seed: 0x7e9_07e)
        for _ in 0..<300 {
            let period = Double(random.next() % 60 + 2)
            let lifetime = period * [0.5, 1, 2][Int(random.next() % 3)]
            let latency = Double(random.next() % 3000) / 1000
            let budget = Int(random.next() % 12) + 1
            let schedule = PayCodeSchedule(refreshSeconds: Double(random.next() % 20), budget: budget)
            let outcome = RequoteSimulation(period: period, lifetime: lifetime, latency: latency, schedule: schedule)
                .run(duration: 400)
            #expect(outcome.mostInWindow <= budget, "period \(period) lifetime \(lifetime) latency \(latency)")
            let gaps = zip(outcome.fetches, outcome.fetches.dropFirst()).map { $1 - $0 }
            #expect(gaps.allSatisfy { $0 >= schedule.minimumGap - 1e-9 })
        }
    }
}
