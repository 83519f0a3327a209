import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal
import PayCodeImaging
import PayCodes
import Testing

extension KioskIntegration {
    /// The invoice's own QR image through the real `drippay-kiosk run`: fetched from the sandbox,
    /// decoded, redrawn on the png display, kept fresh as Strike-like quotes rotate, and paid by
    /// decoding that screen, as a customer's phone would.
    @Suite("Invoice QR image")
    struct InvoiceImageTests {
        static let imageQR = """
            source = "invoice-image"
            refresh_s = 10
            """

        /// The text zbar reads from the png display's current file, if it holds exactly one QR.
        static func scanScreen(_ rig: KioskRig) -> String? {
            guard let data = FileManager.default.contents(atPath: rig.screenPath),
                let image = try? ImageDecoder.decode([UInt8](data), contentType: "image/png")
            else { return nil }
            let texts = QRScanner.scan(image)
            return texts.count == 1 ? texts[0] : nil
        }

        @Test(
            "quotes every 5 s, 20 s timeout: the screen follows two rotations, is paid by scanning it, dispenses once")
        func paidAfterRotations() async throws {
            var options = RigOptions()
            options.paymentTimeoutSeconds = 20
            options.quoteSeconds = 5
            options.qrTable = Self.imageQR
            options.pngDisplay = true
            try await withKioskRig(options) { rig in
                try await rig.startDaemonAndWaitUntilReady()
                #expect(try await rig.hello() == "READY")
                let answer = try await rig.send("VEND rot1 5 1.50", thenWaitFor: "ACCEPT/DENY rot1") {
                    $0 == "ACCEPT rot1" || $0.hasPrefix("DENY rot1 ")
                }
                #expect(answer == "ACCEPT rot1")
                let reference = try await rig.reference(vendID: "rot1")

                // Watch the screen (another process writes it: look every 100 ms) until it has
                // shown three different codes, i.e. followed two rotations.
                var seen: [String] = []
                let deadline = ContinuousClock.now + .seconds(18)
                while seen.count < 3, ContinuousClock.now < deadline {
                    if let text = Self.scanScreen(rig), text != seen.last {
                        // Drawn upper-case (alphanumeric mode); the first one seen is never an expired one.
                        let invoice = try Bolt11Invoice.decode(text)
                        #expect(
                            Double(invoice.expiresAt) > Date().timeIntervalSince1970,
                            "an expired code was on screen: \(text)")
                        #expect(text == text.uppercased() && text.hasPrefix("LNTB"))
                        seen.append(text)
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try #require(seen.count >= 3, "the screen showed \(seen.count) codes in 18 s")
                let quotes = await rig.sandbox.quotes(for: reference)
                #expect(seen.map { $0.lowercased() } == Array(quotes.map(\.bolt11).prefix(seen.count)))

                // The first code has expired by now (10 s lifetime): a wallet is refused it.
                let first = try Bolt11Invoice.decode(seen[0])
                let wait = Double(first.expiresAt) - Date().timeIntervalSince1970
                if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 300)) }
                if case .expired = await rig.sandbox.walletPay(seen[0]) {
                } else {
                    Issue.record("the expired first code was not refused as expired")
                }
                // The customer scans the screen now and pays exactly what it reads.
                let scanned = try #require(Self.scanScreen(rig))
                #expect(await rig.sandbox.walletPay(scanned) == .paid(reference: reference.rawValue.lowercased()))
                #expect(await rig.sandbox.walletPay("lntb1qqqqqqqqqqqq") == .unknownRequest)

                try await rig.expectLine("DISPENSE rot1", timeout: .seconds(10))
                try await rig.simulator.dispensed(id: "rot1")
                let session = try await rig.waitForSession("rot1", in: [.dispensed])
                #expect(try await rig.stopDaemon() == .exited(0))
                #expect(await rig.count(of: "DISPENSE rot1") == 1)
                #expect(await rig.invoice(reference)?.status == .paid)

                // The journal lists every code that was on screen, with its payment hash.
                let journal = try rig.openJournal()
                defer { journal.close() }
                let shown = try journal.events(tradeNo: session.tradeNo).filter { $0.kind == "qr_shown" }
                #expect(shown.count >= 3)
                for text in seen {
                    let hash = try Bolt11Invoice.decode(text).paymentHash
                    #expect(
                        shown.contains { $0.detail.contains("payment_hash=\(hash)") }, "no journal event for \(hash)")
                }
                // `journal show` lists them; `journal export` carries them with the session.
                let show = try await runKioskCommand([
                    "journal", "show", session.tradeNo.rawValue, "--journal", rig.journalPath,
                ])
                let export = try await runKioskCommand([
                    "journal", "export", "--format", "csv", "--journal", rig.journalPath,
                ])
                #expect(show.status == 0 && export.status == 0, "\(show.stderr) \(export.stderr)")
                for text in seen {
                    let hash = try Bolt11Invoice.decode(text).paymentHash
                    #expect(show.stdout.contains(hash) && export.stdout.contains("payment_hash=\(hash)"))
                }
                // Conditional re-fetches: the image URL was asked for with If-None-Match and got 304s or new quotes.
                let imageFetches = await rig.sandbox.requests().filter { $0.path.hasPrefix("/qr_codes/") }
                #expect(imageFetches.count >= 3 && imageFetches.allSatisfy { $0.status == 200 || $0.status == 304 })
            }
        }

        @Test("a restart mid-vend: the resumed session fetches the image again and shows a current code")
        func restartFetchesAgain() async throws {
            var options = RigOptions()
            options.paymentTimeoutSeconds = 20
            options.quoteSeconds = 5
            options.qrTable = Self.imageQR
            options.pngDisplay = true
            options.resumeGraceSeconds = 8
            try await withKioskRig(options) { rig in
                try await rig.startDaemonAndWaitUntilReady()
                #expect(try await rig.hello() == "READY")
                _ = try await rig.send("VEND rs1 5 1.50", thenWaitFor: "ACCEPT rs1") { $0 == "ACCEPT rs1" }
                let reference = try await rig.reference(vendID: "rs1")
                var before: String?
                let seenBy = ContinuousClock.now + .seconds(8)
                while before == nil, ContinuousClock.now < seenBy {
                    before = Self.scanScreen(rig)
                    try await Task.sleep(for: .milliseconds(100))
                }
                try #require(before != nil, "no code on screen before the crash")
                await rig.killDaemon()
                try? FileManager.default.removeItem(atPath: rig.screenPath)
                let fetchesBefore = await rig.sandbox.requests().filter { $0.path.hasPrefix("/qr_codes/") }.count
                try await rig.startDaemonAndWaitUntilReady()
                // The controller asks for the same vend again: the session resumes with its pay screen.
                #expect(
                    try await rig.send("VEND rs1 5 1.50", thenWaitFor: "ACCEPT/DENY rs1") {
                        $0.hasSuffix(" rs1") || $0.hasPrefix("DENY rs1")
                    } == "ACCEPT rs1")
                var after: String?
                let shownBy = ContinuousClock.now + .seconds(10)
                while after == nil, ContinuousClock.now < shownBy {
                    after = Self.scanScreen(rig)
                    try await Task.sleep(for: .milliseconds(100))
                }
                let code = try #require(after, "the resumed session showed no code")
                #expect(await rig.sandbox.requests().filter { $0.path.hasPrefix("/qr_codes/") }.count > fetchesBefore)
                #expect(Double(try Bolt11Invoice.decode(code).expiresAt) > Date().timeIntervalSince1970)
                #expect(await rig.sandbox.walletPay(code) == .paid(reference: reference.rawValue.lowercased()))
                try await rig.expectLine("DISPENSE rs1", timeout: .seconds(10))
                try await rig.simulator.dispensed(id: "rs1")
                try await rig.waitForSession("rs1", in: [.dispensed])
                #expect(await rig.count(of: "DISPENSE rs1") == 1)
            }
        }
    }
}
