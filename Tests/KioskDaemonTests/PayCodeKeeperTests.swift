import DripPayAPI
import DripPaySandbox
import Foundation
import KioskCore
import KioskDisplay
import KioskTestSupport
import Logging
import PayCodes
import Synchronization
import Testing
import VendSession

@testable import KioskDaemon

/// The pay screen with `[qr] source = "invoice-image"`: the display port and the keeper against
/// the sandbox over loopback, real WebP images, real zbar, real time (quotes of a few seconds).
@Suite("Pay code keeper", .serialized)
struct PayCodeKeeperTests {
    static let usd = Currency(iso: "USD")!

    final class Rig: Sendable {
        let sandbox: APISandbox
        let client: DripPayClient
        let fetcher: QRImageFetcher
        let events = Mutex<[(TradeNo, String, String)]>([])

        init(sandbox: APISandbox, client: DripPayClient, fetcher: QRImageFetcher) {
            self.sandbox = sandbox
            self.client = client
            self.fetcher = fetcher
        }

        static func start(quoteSeconds: Int) async throws -> Rig {
            let token = APISandbox.generateToken()
            let sandbox = APISandbox(tokens: [token: Set(Ability.allCases)], quoteSeconds: quoteSeconds)
            try await sandbox.start()
            let base = await sandbox.baseURL
            let client = try DripPayClient(baseURL: base, token: APIToken(token), requestTimeout: .seconds(2))
            let fetcher = try QRImageFetcher(
                apiBaseURL: base, token: APIToken(token), timeout: .seconds(2),
                apiBudget: { [client] in try await client.acquireGeneralBudget() })
            return Rig(sandbox: sandbox, client: client, fetcher: fetcher)
        }

        func keeper(refreshSeconds: Double, now: @escaping @Sendable () -> Date = Date.init) -> PayCodeKeeper {
            PayCodeKeeper(
                fetcher: fetcher, schedule: PayCodeSchedule(refreshSeconds: refreshSeconds),
                logger: Logger(label: "test"),
                now: now,
                record: { tradeNo, kind, detail, _ in
                    self.events.withLock { $0.append((tradeNo, kind.rawValue, detail)) }
                })
        }

        func invoice(_ tradeNo: String) async throws -> Invoice {
            try await client.createInvoice(
                CreateInvoiceRequest(
                    machineID: "KEEP-1", tradeNo: TradeNo(tradeNo), currency: usd,
                    items: [.init(description: "Soda", amount: Money(minorUnits: 150, currency: usd))]))
        }

        func stop() async {
            await fetcher.shutdown()
            await sandbox.stop()
        }

        /// A rig for the length of `body`; `stop()` is awaited after it, also when it throws.
        static func with<Result>(quoteSeconds: Int, _ body: (Rig) async throws -> Result) async throws -> Result {
            try await withTearDown(try await start(quoteSeconds: quoteSeconds), tearDown: { await $0.stop() }, body)
        }
    }

    /// The codes drawn, in order, without repeats (countdown ticks redraw the same code).
    static func codes(_ shown: [Screen]) -> [PayCode] {
        var out: [PayCode] = []
        for case .pay(let pay) in shown where out.last != pay.code { out.append(pay.code) }
        return out
    }

    /// The pay screen of a 1.50 USD soda whose QR is `ref`'s image, due `seconds` from now.
    static func sodaPayScreen(_ ref: InvoiceImageRef, dueIn seconds: TimeInterval) -> ScreenIntent {
        .pay(
            qrPayload: ref.payload, product: "Soda", price: Money(minorUnits: 150, currency: usd),
            deadline: Date().addingTimeInterval(seconds))
    }

    /// Waits (bounded) until `condition` holds over what the display drew.
    static func until(
        _ display: RecordingDisplay, within: Duration, _ condition: @Sendable ([Screen]) -> Bool
    ) async -> Bool {
        await eventually(timeout: within, every: .milliseconds(50)) { condition(await display.shown) }
    }

    @Test("quotes rotating every 2 s: the screen follows each new code at once and journals it")
    func followsRotation() async throws {
        try await Rig.with(quoteSeconds: 2) { rig in
            let invoice = try await rig.invoice("T-keep-rot")
            let display = RecordingDisplay()
            let port = DisplayScreenPort(
                output: display, logger: Logger(label: "test"), payCodes: rig.keeper(refreshSeconds: 10))
            let ref = InvoiceImageRef(tradeNo: TradeNo("T-keep-rot"), url: invoice.qrCodeImageURL ?? "")
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await port.run() }
                await port.show(Self.sodaPayScreen(ref, dueIn: 20))
                let followed = await Self.until(display, within: .seconds(9)) { shown in
                    Self.codes(shown).filter { if case .text = $0 { return true } else { return false } }.count >= 3
                }
                #expect(followed, "three codes in 9 s")
                await port.show(.idle)
                _ = await Self.until(display, within: .seconds(2)) { $0.last == .idle }
                group.cancelAll()
            }
            let codes = Self.codes(await display.shown)
            #expect(
                codes.first == .waiting(message: PayCodeKeeper.gettingCode), "the first frame says the code is coming")
            let texts = codes.compactMap { code -> String? in
                if case .text(let t) = code { return t } else { return nil }
            }
            let quotes = await rig.sandbox.quotes(for: invoice.reference).map(\.bolt11)
            #expect(Array(texts.prefix(3)) == Array(quotes.prefix(3)))
            let events = rig.events.withLock { $0 }
            for text in texts.prefix(3) {
                let hash = try Bolt11Invoice.decode(text).paymentHash
                #expect(
                    events.contains {
                        $0.0 == TradeNo("T-keep-rot") && $0.1 == "qr_shown" && $0.2.contains("payment_hash=\(hash)")
                            && $0.2.contains("amount_msat=2301000")
                    })
            }
        }
    }

    @Test("a code whose expiry has passed is never drawn: the screen says it is being refreshed")
    func expiredNeverShown() async throws {
        try await Rig.with(quoteSeconds: 30) { rig in
            let invoice = try await rig.invoice("T-keep-exp")
            let display = RecordingDisplay()
            // The keeper's clock is 2 minutes ahead: every quote it fetches (60 s lifetime) has expired.
            let port = DisplayScreenPort(
                output: display, logger: Logger(label: "test"),
                payCodes: rig.keeper(refreshSeconds: 10, now: { Date().addingTimeInterval(120) }))
            let ref = InvoiceImageRef(tradeNo: TradeNo("T-keep-exp"), url: invoice.qrCodeImageURL ?? "")
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await port.run() }
                await port.show(Self.sodaPayScreen(ref, dueIn: 200))
                #expect(
                    await Self.until(display, within: .seconds(5)) {
                        Self.codes($0).contains(.waiting(message: PayCodeKeeper.refreshingCode))
                    })
                // Nothing payable on screen: it asks again 3 s later (bounded by the API budget).
                try? await Task.sleep(for: .milliseconds(3600))
                await port.show(.idle)
                _ = await Self.until(display, within: .seconds(2)) { $0.last == .idle }
                group.cancelAll()
            }
            let codes = Self.codes(await display.shown)
            #expect(
                !codes.contains { if case .text = $0 { return true } else { return false } },
                "an expired code was drawn: \(codes)")
            #expect(rig.events.withLock { $0 }.isEmpty)
            #expect(
                await rig.sandbox.requests().filter { $0.path.hasPrefix("/qr_codes/") }.count >= 2,
                "it keeps asking for a fresh code")
        }
    }

    @Test(
        "no image at the URL (404) or none given: the screen waits, nothing is journalled, the next screen replaces it")
    func missingImage() async throws {
        try await Rig.with(quoteSeconds: 30) { rig in
            let display = RecordingDisplay()
            let port = DisplayScreenPort(
                output: display, logger: Logger(label: "test"), payCodes: rig.keeper(refreshSeconds: 10))
            let origin = await rig.sandbox.origin
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await port.run() }
                let missing = InvoiceImageRef(
                    tradeNo: TradeNo("T-none"), url: "\(origin)/qr_codes/no-such-invoice.webp")
                await port.show(Self.sodaPayScreen(missing, dueIn: 30))
                #expect(await Self.until(display, within: .seconds(2)) { !$0.isEmpty })
                try? await Task.sleep(for: .milliseconds(500))
                let empty = InvoiceImageRef(tradeNo: TradeNo("T-none"), url: "")
                await port.show(Self.sodaPayScreen(empty, dueIn: 30))
                #expect(
                    await Self.until(display, within: .seconds(2)) {
                        Self.codes($0).contains(.waiting(message: PayCodeKeeper.noImage))
                    })
                await port.show(.paid(product: "Soda"))
                #expect(await Self.until(display, within: .seconds(2)) { $0.last == .paid(product: "Soda") })
                group.cancelAll()
            }
            let codes = Self.codes(await display.shown)
            #expect(!codes.contains { if case .text = $0 { return true } else { return false } })
            #expect(rig.events.withLock { $0 }.isEmpty)
        }
    }

    /// What the keeper presented, with the time it did, over `seconds` of a pay screen held open.
    static func presentations(
        _ rig: Rig, _ ref: InvoiceImageRef, for seconds: Double, schedule: PayCodeSchedule
    ) async -> [(at: Double, code: PayCode)] {
        let keeper = PayCodeKeeper(
            fetcher: rig.fetcher, schedule: schedule, logger: Logger(label: "test"), record: { _, _, _, _ in })
        let shown = Mutex<[(at: Double, code: PayCode)]>([])
        await keeper.keep(
            ref, deadline: Date().addingTimeInterval(seconds), changed: Pulse(), isCurrent: { true },
            present: { code in shown.withLock { $0.append((Date().timeIntervalSince1970, code)) } })
        return shown.withLock { $0 }
    }

    /// Checks the re-quote promises over what was presented: no code drawn at or past its expiry,
    /// every code taken down (or replaced) within `slack` of its expiry, and how many distinct codes.
    static func requoteViolations(
        _ shown: [(at: Double, code: PayCode)], end: Double, slack: Double
    ) throws
        -> (violations: [String], codes: Int)
    {
        var violations: [String] = []
        var codes = 0
        for (index, entry) in shown.enumerated() {
            guard case .text(let text) = entry.code else { continue }
            codes += 1
            let expiry = Double(try Bolt11Invoice.decode(text).expiresAt)
            if entry.at >= expiry { violations.append("code drawn \(entry.at - expiry) s after its expiry") }
            guard expiry + slack < end else { continue }
            let replaced = shown[(index + 1)...].first.map(\.at) ?? .infinity
            if replaced > expiry + slack {
                violations.append("code up \(replaced - expiry) s past its expiry")
            }
        }
        return (violations, codes)
    }

    @Test("Strike timing (each quote dies as the next is issued): every code followed within the fetch budget")
    func strikeTiming() async throws {
        try await Rig.with(quoteSeconds: 3) { rig in
            await rig.sandbox.setQuoteLifetime(3)
            let invoice = try await rig.invoice("T-keep-strike")
            let ref = InvoiceImageRef(tradeNo: TradeNo("T-keep-strike"), url: invoice.qrCodeImageURL ?? "")
            let start = Date().timeIntervalSince1970
            let schedule = PayCodeSchedule(refreshSeconds: 10, lead: 1, budget: 12)
            let shown = await Self.presentations(rig, ref, for: 13, schedule: schedule)
            let (violations, codes) = try Self.requoteViolations(shown, end: start + 13, slack: 0.3)
            #expect(violations.isEmpty, "\(violations)")
            #expect(codes >= 4, "followed \(codes) codes in 13 s of 3 s quotes")
            let fetches = await rig.sandbox.requests().filter { $0.path.hasPrefix("/qr_codes/") }.count
            #expect(fetches <= 12, "\(fetches) image fetches against a budget of 12 a minute")
        }
    }

    @Test("a fetch slower than the code's remaining life: the code comes down at its expiry, not when the fetch ends")
    func expiryWhileFetching() async throws {
        try await Rig.with(quoteSeconds: 4) { rig in
            await rig.sandbox.setQuoteLifetime(4)
            let invoice = try await rig.invoice("T-keep-slow")
            let ref = InvoiceImageRef(tradeNo: TradeNo("T-keep-slow"), url: invoice.qrCodeImageURL ?? "")
            // Each answer takes 1.5 s; the fetch before the expiry starts 1 s ahead: it is on its way
            // when the code dies.
            await rig.sandbox.setLatency(.milliseconds(1500))
            let start = Date().timeIntervalSince1970
            let shown = await Self.presentations(
                rig, ref, for: 11, schedule: PayCodeSchedule(refreshSeconds: 0, lead: 1, budget: 12))
            let (violations, codes) = try Self.requoteViolations(shown, end: start + 11, slack: 0.3)
            #expect(violations.isEmpty, "\(violations)")
            #expect(codes >= 2)
            #expect(shown.contains { $0.code == .waiting(message: PayCodeKeeper.refreshingCode) })
        }
    }

    @Test("a template payload is drawn as it is; only an image reference goes to the keeper")
    func templatePayloadUntouched() {
        #expect(InvoiceImageRef(payload: "https://pay.example.com/i/abc") == nil)
        let ref = InvoiceImageRef(tradeNo: TradeNo("T1"), url: "https://x.example/qr.webp")
        #expect(InvoiceImageRef(payload: ref.payload) == ref)
        #expect(InvoiceImageRef(payload: InvoiceImageRef(tradeNo: TradeNo("T2"), url: "").payload)?.url == "")
    }
}
