import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal
import Testing

extension KioskIntegration {
    /// Issue 22: whatever the API answers, every session ends and the kiosk keeps selling. Each
    /// case through the real daemon, the sandbox and a vmc-line pty.
    @Suite("API oddities")
    struct APIOdditiesTests {
        /// Requests the sandbox saw about one invoice (status, view, cancel).
        static func requestsAbout(_ rig: KioskRig, _ reference: InvoiceReference) async -> Int {
            await rig.sandbox.requests().filter { $0.path.lowercased().contains(reference.rawValue.lowercased()) }.count
        }

        /// No request about `reference` for a while once its session ended.
        static func expectQuiet(_ rig: KioskRig, _ reference: InvoiceReference) async throws {
            let ended = await requestsAbout(rig, reference)
            try await Task.sleep(for: .seconds(3))
            #expect(await requestsAbout(rig, reference) == ended, "requests about \(reference) after its session ended")
        }

        /// A normal vend afterwards: accepted, paid, dispensed.
        static func expectNormalVend(_ rig: KioskRig, id: String) async throws {
            let answer = try await rig.send("VEND \(id) 5 1.50", thenWaitFor: "ACCEPT/DENY \(id)") {
                $0 == "ACCEPT \(id)" || $0.hasPrefix("DENY \(id) ")
            }
            try #require(answer == "ACCEPT \(id)")
            let reference = try await rig.reference(vendID: id)
            #expect(await rig.sandbox.pay(reference))
            try await rig.expectLine("DISPENSE \(id)")
            try await rig.simulator.dispensed(id: id)
            try await rig.waitForSession(id, in: [.dispensed])
        }

        static func events(_ rig: KioskRig, _ session: SessionRecord) throws -> [JournalEvent] {
            let journal = try rig.openJournal()
            defer { journal.close() }
            return try journal.events(tradeNo: session.tradeNo)
        }

        @Test(
            "an invoice turning 'expired' while its QR is up: DENY, the session ends cancelled with the word, no more requests"
        )
        func anExpiredInvoiceEndsTheSession() async throws {
            try await withKioskRig { rig in
                #expect(try await VendFlowTests.startAndVend(rig, id: "exp1") == "ACCEPT exp1")
                let reference = try await rig.reference(vendID: "exp1")
                let from = await rig.lines.count
                await rig.sandbox.setStatusWord("expired")
                let deny = try await rig.lines.first(from: from, matching: "DENY exp1", timeout: .seconds(10)) {
                    $0.hasPrefix("DENY exp1 ")
                }.line
                #expect(deny == "DENY exp1 error")
                let session = try await rig.waitForSession("exp1", in: [.cancelled])
                #expect(session.note?.contains("'expired'") == true)
                #expect(try Self.events(rig, session).filter { $0.kind == "unknown_status" }.count == 1)
                try await Self.expectQuiet(rig, reference)
                // Not payable at the API: it reads expired, not pending.
                #expect(await rig.sandbox.statusWordOf(reference.rawValue) == "expired")
                await rig.sandbox.setStatusWord(nil)
                #expect(await rig.count(of: "DISPENSE exp1") == 0)
                // The sandbox's fault reads every pending invoice as expired: the next vend needs it off.
                try await Self.expectNormalVend(rig, id: "exp2")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }

        @Test("a lost create while the list holds malformed invoices of another machine: found, paid, dispensed")
        func malformedInvoicesOfAnotherMachineDoNotHideOurs() async throws {
            try await withKioskRig { rig in
                await rig.sandbox.addInvoices(count: 3, machineID: "OTHER-01", malformed: true)
                await rig.sandbox.injectCreateFault(.dropAfterCommit)
                #expect(try await VendFlowTests.startAndVend(rig, id: "mal1") == "ACCEPT mal1")
                let reference = try await rig.reference(vendID: "mal1")
                #expect(await rig.sandbox.pay(reference))
                try await rig.expectLine("DISPENSE mal1")
                try await rig.simulator.dispensed(id: "mal1")
                let session = try await rig.waitForSession("mal1", in: [.dispensed])
                #expect(await rig.sandbox.liveInvoiceCount(tradeNo: session.tradeNo.rawValue) == 1)
                try await Self.expectNormalVend(rig, id: "mal2")
                #expect(try await rig.stopDaemon() == .exited(0))
                let metrics = try String(contentsOfFile: rig.directory + "/metrics.prom", encoding: .utf8)
                #expect(metrics.contains("drippay_kiosk_api_malformed_invoices_total 3"))
            }
        }

        @Test("a 2xx create whose invoice is malformed: cancelled by its reference, the vend denied")
        func aMalformedCreateAnswerIsCancelledByItsReference() async throws {
            try await withKioskRig { rig in
                await rig.sandbox.injectCreateFault(.malformedAfterCommit)
                let answer = try await VendFlowTests.startAndVend(rig, id: "bad1")
                #expect(answer == "DENY bad1 error")
                let session = try await rig.waitForSession("bad1", in: [.cancelled])
                let reference = try #require(session.reference)
                #expect(await rig.invoice(reference)?.status == .cancelled)
                try await Self.expectQuiet(rig, reference)
                try await Self.expectNormalVend(rig, id: "bad2")
                #expect(try await rig.stopDaemon() == .exited(0))
                #expect(await rig.sandbox.invoices().allSatisfy { $0.status != .pending })
            }
        }

        @Test(
            "a lost create behind 1,200 newer invoices of other machines: found within the budget, cancelled, next vend sells"
        )
        func aLostCreateBehindManyNewerInvoicesIsFound() async throws {
            try await withKioskRig { rig in
                await rig.sandbox.injectCreateFault(.dropAfterCommitBehind(newer: 1_200, machineID: "OTHER-01"))
                let answer = try await VendFlowTests.startAndVend(rig, id: "deep1")
                #expect(answer.hasPrefix("DENY deep1 "), "too late to offer after 13 pages")
                let session = try await rig.waitForSession("deep1", in: [.cancelled], timeout: .seconds(30))
                let ours = await rig.sandbox.invoices().filter { $0.tradeNo == session.tradeNo.rawValue }
                #expect(ours.count == 1)
                #expect(ours.allSatisfy { $0.status == .cancelled })
                let lists = await rig.sandbox.requests().filter { $0.method == "GET" && $0.path == "/api/v1/invoices" }
                #expect(lists.count <= 30, "list requests bounded: \(lists.count)")
                try await Self.expectNormalVend(rig, id: "deep2")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }

        @Test("`journal refunds` lists unresolved sessions after refunds due, with their reference and trade_no")
        func journalRefundsListsUnresolvedSessions() async throws {
            try await withKioskRig { rig in
                let journal = try Journal.open(path: rig.journalPath, machineID: rig.options.machineID)
                let created = Date(timeIntervalSince1970: 1_800_000_000)
                var record = SessionRecord(
                    tradeNo: TradeNo("T-UNRESOLVED-1"), vendID: VendID("un1")!, product: ProductCode("5")!,
                    itemDescription: "Soda", price: Money(minorUnits: 150, currency: Currency(iso: "USD")!),
                    state: .unresolved, reference: InvoiceReference("ref-unresolved-1"), createdAt: created,
                    updatedAt: created, note: "could not settle within 10 retries")
                try journal.insert(record, event: "unresolved", detail: "test")
                record.tradeNo = TradeNo("T-DISPENSED-1")
                record.vendID = VendID("ok1")!
                record.state = .dispensed
                record.reference = InvoiceReference("ref-dispensed-1")
                try journal.insert(record, event: "dispensed", detail: "test")
                journal.close()
                let listing = try await runKioskCommand(["journal", "refunds", "--journal", rig.journalPath])
                #expect(listing.status == 0, "journal refunds: \(listing.stderr)")
                #expect(listing.stdout.contains("Unresolved (open, 1)"))
                #expect(listing.stdout.contains("ref-unresolved-1"))
                #expect(listing.stdout.contains("T-UNRESOLVED-1"))
                #expect(!listing.stdout.contains("ref-dispensed-1"))
            }
        }

        @Test("a lost create while invoices of other machines are deleted between page reads: still found")
        func deletesBetweenPageReadsDoNotHideOurs() async throws {
            try await withKioskRig { rig in
                await rig.sandbox.injectCreateFault(.dropAfterCommitBehind(newer: 250, machineID: "OTHER-01"))
                await rig.sandbox.deleteBetweenPageReads(60, sparing: rig.options.machineID)
                _ = try await VendFlowTests.startAndVend(rig, id: "del1")
                let session = try await rig.waitForSession("del1", in: [.cancelled, .dispensed], timeout: .seconds(30))
                #expect(session.reference != nil, "the lookup found the invoice")
                await rig.sandbox.deleteBetweenPageReads(0, sparing: "")
                let ours = await rig.sandbox.invoices().filter { $0.tradeNo == session.tradeNo.rawValue }
                #expect(ours.count == 1 && ours.allSatisfy { $0.status != .pending })
                try await Self.expectNormalVend(rig, id: "del2")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }
    }
}
