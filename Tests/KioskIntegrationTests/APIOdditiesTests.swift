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
        static func requestsAbout(_ rig: KioskRig, _ reference: InvoiceReference) async -> [SandboxRequestRecord] {
            await rig.sandbox.requests().filter { $0.path.lowercased().contains(reference.rawValue.lowercased()) }
        }

        /// List reads (`GET /invoices`): a trade_no lookup's requests.
        static func listReads(_ rig: KioskRig) async -> [SandboxRequestRecord] {
            await rig.sandbox.requests().filter { $0.method == "GET" && $0.path == "/api/v1/invoices" }
        }

        /// No request about `reference` (and, for a session found by a lookup, no list read) was
        /// answered after its session ended (`updated_at` of its final row), checked again after a
        /// pause: the daemon never asks about an ended session. Returns the requests about it.
        @discardableResult
        static func expectNothingAfterEnd(
            _ rig: KioskRig, _ session: SessionRecord, includingLists: Bool = false,
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> [SandboxRequestRecord] {
            #expect(
                session.state.isFinal, "\(session.vendID) is \(session.state.rawValue)", sourceLocation: sourceLocation)
            try await Task.sleep(for: .seconds(3))
            // The sandbox stamps a request when it answers; the journal's end is stamped after the
            // daemon read that answer, at millisecond precision.
            let ended = session.updatedAt.addingTimeInterval(0.002)
            var about =
                session.reference.map { reference in
                    { (r: SandboxRequestRecord) in
                        r.path.lowercased().contains(reference.rawValue.lowercased())
                    }
                } ?? { _ in false }
            if includingLists {
                let byReference = about
                about = { byReference($0) || ($0.method == "GET" && $0.path == "/api/v1/invoices") }
            }
            let requests = await rig.sandbox.requests().filter(about)
            let late = requests.filter { $0.at > ended }
            #expect(
                late.isEmpty,
                "requests about \(session.vendID) after its session ended at \(session.updatedAt): \(late)",
                sourceLocation: sourceLocation)
            return requests
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
                try await Self.expectNothingAfterEnd(rig, session)
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
                try await Self.expectNothingAfterEnd(rig, session, includingLists: true)
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
                try await Self.expectNothingAfterEnd(rig, session)
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
                // Found within the offer window (13 pages) or not: either way the vend ends.
                #expect(answer == "ACCEPT deep1" || answer.hasPrefix("DENY deep1 "), "answer: \(answer)")
                let session = try await rig.waitForSession("deep1", in: [.cancelled], timeout: .seconds(30))
                let ours = await rig.sandbox.invoices().filter { $0.tradeNo == session.tradeNo.rawValue }
                #expect(ours.count == 1)
                #expect(ours.allSatisfy { $0.status == .cancelled })
                let lists = await Self.listReads(rig)
                #expect(lists.count <= 14, "list requests bounded: \(lists.count)")
                // The create's own lookup hands its walk on: pages 1-13 once each, never page 1 again.
                #expect(Set(lists.map(\.page)).count == lists.count, "a page read twice: \(lists.map(\.page))")
                let about = try await Self.expectNothingAfterEnd(rig, session, includingLists: true)
                let polls = about.filter { $0.method == "GET" && $0.path.hasSuffix("/status") }
                #expect(polls.count <= 40, "polls only while its QR was up (3 s): \(polls.count)")
                #expect(
                    about.count - lists.count - polls.count <= 4, "the cancel and its re-check: \(about)")
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
                // The daemon never asks about a session that ended unresolved (nor a dispensed one).
                try await rig.startDaemonAndWaitUntilReady()
                let unresolved = try #require(try rig.session(vendID: "un1"))
                try await Self.expectNothingAfterEnd(rig, unresolved, includingLists: true)
                #expect(await Self.requestsAbout(rig, InvoiceReference("ref-unresolved-1")).isEmpty)
                #expect(try await rig.stopDaemon() == .exited(0))
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
                try await Self.expectNothingAfterEnd(rig, session, includingLists: true)
                try await Self.expectNormalVend(rig, id: "del2")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }

        /// A rig whose sessions watch for a late payment after a cancel the API confirms by 404,
        /// against a sandbox whose cancelled invoices stay payable (the provider's quote lives on).
        static func softDeleteRig() -> RigOptions {
            var options = RigOptions()
            options.latePaymentWatchSeconds = 6
            return options
        }

        /// Requests about `reference` from its cancel (`DELETE`) on.
        static func fromCancel(_ requests: [SandboxRequestRecord]) -> [SandboxRequestRecord] {
            guard let cancel = requests.firstIndex(where: { $0.method == "DELETE" }) else { return [] }
            return Array(requests[cancel...])
        }

        @Test(
            "a soft-deleted invoice paid after our cancel: DENY at the 404, the watch reads the payment, refund due"
        )
        func aSoftDeletedInvoicePaidAfterOurCancelIsRefundDue() async throws {
            try await withKioskRig(Self.softDeleteRig()) { rig in
                await rig.sandbox.setSoftDeletedStillPayable(true)
                #expect(try await VendFlowTests.startAndVend(rig, id: "sd1") == "ACCEPT sd1")
                let reference = try await rig.reference(vendID: "sd1")
                let deny = try await rig.send("ABORT sd1", thenWaitFor: "DENY sd1") { $0.hasPrefix("DENY sd1") }
                #expect(deny == "DENY sd1 aborted", "a 404 after our own cancel counts as cancelled")
                #expect(await rig.invoice(reference)?.deleted == true, "soft-deleted: the API answers 404")
                #expect(try rig.session(vendID: "sd1")?.state == .invoiced, "still watched")
                // The customer's wallet pays the quote it holds after the cancel: the provider takes it.
                #expect(await rig.sandbox.pay(reference))
                let session = try await rig.waitForSession("sd1", in: [.refundDue, .cancelled], timeout: .seconds(15))
                #expect(session.state == .refundDue, "note: \(session.note ?? "-")")
                #expect(session.paidAt != nil)
                #expect(try Self.events(rig, session).contains { $0.kind == "late_payment_watch" })
                #expect(await rig.count(of: "DISPENSE sd1") == 0, "the controller was released at the 404")
                #expect(await rig.invoice(reference)?.status == .paid, "nothing of ours left pending")
                let about = Self.fromCancel(try await Self.expectNothingAfterEnd(rig, session))
                #expect(about.count <= 7, "the cancel, its re-check and the watch's reads: \(about)")
                try await Self.expectNormalVend(rig, id: "sd2")
                #expect(try await rig.stopDaemon() == .exited(0))
                let listing = try await runKioskCommand(["journal", "refunds", "--journal", rig.journalPath])
                #expect(listing.stdout.contains(reference.rawValue), "journal refunds lists it")
            }
        }

        @Test(
            "a soft-deleted invoice nobody pays: DENY at the 404, a few status reads, cancelled at the watch's end"
        )
        func aSoftDeletedInvoiceNobodyPaysEndsCancelledAfterTheWatch() async throws {
            try await withKioskRig(Self.softDeleteRig()) { rig in
                await rig.sandbox.setSoftDeletedStillPayable(true)
                #expect(try await VendFlowTests.startAndVend(rig, id: "sd3") == "ACCEPT sd3")
                let reference = try await rig.reference(vendID: "sd3")
                // The payment deadline (3 s) passes: the kiosk cancels, the re-check answers 404.
                let deny = try await rig.lines.first(from: 0, matching: "DENY sd3", timeout: .seconds(15)) {
                    $0.hasPrefix("DENY sd3 ")
                }.line
                #expect(deny == "DENY sd3 timeout")
                let deniedAt = Date()
                let session = try await rig.waitForSession("sd3", in: [.cancelled], timeout: .seconds(15))
                #expect(session.updatedAt.timeIntervalSince(deniedAt) > 4, "ended at the watch's end, not at the 404")
                #expect(session.note?.contains("late-payment watch") == true, "note: \(session.note ?? "-")")
                let invoice = try #require(await rig.invoice(reference))
                #expect(invoice.deleted && invoice.status != .paid, "soft-deleted at the API, not pending there")
                let about = Self.fromCancel(try await Self.expectNothingAfterEnd(rig, session))
                let watchReads = about.filter { $0.method == "GET" && $0.path.hasSuffix("/status") }
                #expect((2...5).contains(watchReads.count), "reads at 1, 3 and 6 s (status route): \(about)")
                #expect(about.count <= 8, "bounded: \(about)")
                #expect(await rig.count(of: "DISPENSE sd3") == 0)
                try await Self.expectNormalVend(rig, id: "sd4")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }

        /// The part of a kept lookup (`trade_no_lookups.progress`, the API client's JSON) a test reads.
        struct KeptLookup: Decodable, Equatable {
            let cutoffMilliseconds: Int64
            let nextPage: Int?
            let requests: Int
        }

        static func keptLookup(_ rig: KioskRig, _ tradeNo: TradeNo) throws -> KeptLookup? {
            let journal = try rig.openJournal()
            defer { journal.close() }
            guard let text = try journal.lookupProgress(tradeNo: tradeNo) else { return nil }
            return try JSONDecoder().decode(KeptLookup.self, from: Data(text.utf8))
        }

        @Test(
            "a restart in the middle of a long lookup goes on from the page it reached, finds the invoice and cancels it"
        )
        func aLookupGoesOnAcrossARestart() async throws {
            try await withKioskRig { rig in
                // Our invoice behind 3,000 newer ones of another machine: 31 pages of 100.
                await rig.sandbox.injectCreateFault(.dropAfterCommitBehind(newer: 3_000, machineID: "OTHER-01"))
                _ = try await VendFlowTests.startAndVend(rig, id: "rs1")
                let requested = try #require(try rig.session(vendID: "rs1"))
                // Stop the daemon as soon as one lookup try kept its progress in the journal.
                var saved: KeptLookup?
                let deadline = ContinuousClock.now + .seconds(20)
                while saved == nil, ContinuousClock.now < deadline {
                    saved = try Self.keptLookup(rig, requested.tradeNo)
                    if saved == nil { try await Task.sleep(for: .milliseconds(20)) }
                }
                #expect(try await rig.stopDaemon() == .exited(0))
                let progress = try #require(saved, "no lookup progress was kept in the journal")
                #expect(
                    progress.cutoffMilliseconds == Int64(requested.createdAt.timeIntervalSince1970 * 1000) - 600_000,
                    "the horizon is the session's created_at less the skew allowance")
                let openSession = try #require(try rig.session(vendID: "rs1"))
                #expect(openSession.state == .requested, "stopped in the middle of the lookup")
                let kept = try #require(try Self.keptLookup(rig, requested.tradeNo))
                let resumeAt = try #require(kept.nextPage)
                #expect(resumeAt > 10, "at least one try of 10 pages was kept")
                let before = await Self.listReads(rig).count

                try await rig.startDaemonAndWaitUntilReady()
                let session = try await rig.waitForSession("rs1", in: [.cancelled], timeout: .seconds(40))
                let after = Array(await Self.listReads(rig).dropFirst(before))
                #expect(
                    after.first?.page == resumeAt, "the new daemon's first list read: \(after.first.map(\.page) ?? 0)")
                #expect(!after.contains { $0.page < resumeAt }, "no page read before \(resumeAt) again")
                #expect(after.count <= 31 - resumeAt + 1, "bounded: \(after.count) list reads after the restart")
                let ours = await rig.sandbox.invoices().filter { $0.tradeNo == session.tradeNo.rawValue }
                #expect(ours.count == 1 && ours.allSatisfy { $0.status == .cancelled }, "found and cancelled")
                #expect(try Self.keptLookup(rig, session.tradeNo) == nil, "the finished lookup is forgotten")
                try await Self.expectNothingAfterEnd(rig, session, includingLists: true)
                try await Self.expectNormalVend(rig, id: "rs2")
                #expect(try await rig.stopDaemon() == .exited(0))
            }
        }
    }
}
