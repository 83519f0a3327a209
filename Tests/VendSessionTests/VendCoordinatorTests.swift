import Foundation
import KioskCore
import KioskTestSupport
import Testing
import VendSession

@Suite("Vend coordinator with fakes and a manual clock")
struct VendCoordinatorTests {
    let v1 = vendID("v1")

    func isDispense(_ command: ControllerCommand) -> Bool {
        if case .dispense = command { return true } else { return false }
    }

    @Test(arguments: StoreKind.allCases) func aPaidVendIsDispensedEndToEndWithTheDecisionJournaledBeforeTheCommand(
        store: StoreKind
    ) async throws {
        try await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            #expect(
                await eventually {
                    h.screen.shown.get.first
                        == .pay(
                            qrPayload: "pay:ref-1", product: "Soda", price: cents(150),
                            deadline: t0.addingTimeInterval(90))
                })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
            let log = h.log.get
            let decision = try #require(log.firstIndex(of: "store.update T-1 dispensing"))
            let command = try #require(log.firstIndex { $0.hasPrefix("controller.send dispense") })
            #expect(decision < command)
            #expect(
                log.firstIndex(of: "store.update T-1 invoiced")! < log.firstIndex(of: "controller.send accept(v1)")!)
            await h.coordinator.handle(.dispensed(v1))
            #expect(await eventually { h.store.record("T-1")?.state == .dispensed })
            #expect(await eventually { h.outcomes.get.map(\.ending) == [.finished(.dispensed)] })
            #expect(await h.coordinator.openSessions().isEmpty)
            #expect(h.invoices.state.read(\.creates) == 1)
        }
    }

    /// Issue 16: a paid vend is four durable commits (trade_no with requested; invoiced; paid
    /// with dispensing; dispensed) and one note without fsync (dispense_sent).
    @Test(arguments: StoreKind.allCases) func aPaidVendIsFourDurableCommitsAndOneNoteWithoutFsync(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
            await h.coordinator.handle(.dispensed(v1))
            #expect(await eventually { h.store.record("T-1")?.state == .dispensed })
            #expect(await eventually { h.store.state.read(\.nonDurableNotes) == 1 })
            #expect(h.store.state.read(\.commits) == 4)
            #expect(
                h.store.state.read { $0.events.map(\.1) }
                    == ["requested", "invoice_created", "paid", "dispensing", "dispense_sent", "dispensed"])
        }
    }

    @Test(arguments: StoreKind.allCases) func nothingPollsWhileIdleAndPollingStopsWhenTheSessionEnds(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.idle(steps: 300, step: .seconds(1))
            #expect(h.invoices.state.read(\.statusCalls) == 0)
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
            await h.coordinator.handle(.dispensed(v1))
            #expect(await eventually { await h.coordinator.pollingCount() == 0 })
            #expect(
                await eventually { h.clock.sleeperCount == 0 },
                "the session's deadline timer and poll pause are cancelled")
            let afterVend = h.invoices.state.read(\.statusCalls)
            await h.idle(steps: 300, step: .seconds(1))
            #expect(h.invoices.state.read(\.statusCalls) == afterVend)
        }
    }

    @Test(arguments: StoreKind.allCases) func aTimedOutVendIsCancelledAtTheAPIAndDeniedTimeout(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            #expect(await h.drive(step: .seconds(1), maxSteps: 200) { h.controller.commands.count == 2 })
            #expect(h.controller.commands == [.accept(v1), .deny(v1, .timeout)])
            #expect(h.invoices.state.read(\.cancels) == 1)
            #expect(h.clock.wallNow() >= t0.addingTimeInterval(90))
            #expect(h.store.record("T-1")?.state == .cancelled)
            #expect(await eventually { h.screen.shown.get.last == .cancelled(reason: .timeout) })
            #expect(await h.drive(step: .seconds(1), maxSteps: 10) { h.screen.shown.get.last == .idle })
        }
    }

    @Test(arguments: StoreKind.allCases) func aPaidVendThatFailsToDispenseShowsTheRefundNoticeForItsWholeTime(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
            await h.coordinator.handle(.dispenseFailed(v1, reason: "column 5 empty"))
            #expect(await eventually { h.screen.shown.get.last == .refundDue(tradeNo: h.store.tradeNo("T-1")) })
            let shownAt = h.clock.wallNow()
            // The result screen's 5 s pass; the notice stays for the policy's 30 s, then idle.
            await h.idle(steps: 25, step: .seconds(1))
            #expect(h.screen.shown.get.last == .refundDue(tradeNo: h.store.tradeNo("T-1")), "\(h.screen.shown.get)")
            #expect(await h.drive(step: .seconds(1), maxSteps: 10) { h.screen.shown.get.last == .idle })
            #expect(h.clock.wallNow() >= shownAt.addingTimeInterval(30))
        }
    }

    @Test(arguments: StoreKind.allCases) func anAbortedVendIsCancelledAndDeniedAborted(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            await h.coordinator.handle(.vendAborted(v1))
            #expect(await eventually { h.controller.commands == [.accept(v1), .deny(v1, .aborted)] })
            #expect(h.store.record("T-1")?.state == .cancelled)
        }
    }

    @Test(arguments: StoreKind.allCases) func aReclaimAfterARestartResumesTheSameInvoiceWithoutCreatingAnother(
        store: StoreKind
    ) async throws {
        try await withHarness(
            store: store, records: [invoicedRecord(tradeNo: "T-1", deadline: t0.addingTimeInterval(90))]
        ) { h in
            try await h.coordinator.recoverOnStart()
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            #expect(h.invoices.state.read(\.creates) == 0)
            #expect(
                await eventually {
                    h.screen.shown.get
                        == [
                            .pay(
                                qrPayload: "pay:ref-1", product: "Soda", price: cents(150),
                                deadline: t0.addingTimeInterval(90))
                        ]
                })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
        }
    }

    @Test(arguments: StoreKind.allCases) func recoveryCancelsAnUnclaimedInvoiceAfterTheGrace(
        store: StoreKind
    ) async throws {
        try await withHarness(
            store: store, records: [invoicedRecord(tradeNo: "T-1", deadline: t0.addingTimeInterval(90))]
        ) { h in
            try await h.coordinator.recoverOnStart()
            await h.idle(steps: 14, step: .seconds(1))
            #expect(h.invoices.state.read(\.cancels) == 0, "kept for the 15 s grace")
            #expect(h.invoices.state.read(\.statusCalls) > 0, "and polled meanwhile")
            #expect(await h.drive(step: .seconds(1), maxSteps: 100) { h.invoices.state.read(\.cancels) == 1 })
            #expect(h.clock.wallNow() >= t0.addingTimeInterval(15))
            #expect(await eventually { h.store.record("T-1")?.state == .cancelled })
            #expect(h.controller.commands.isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func recoveryMakesAnUnclaimedPaidSessionRefundDue(
        store: StoreKind
    ) async throws {
        var record = invoicedRecord(tradeNo: "T-1", deadline: t0.addingTimeInterval(90))
        record.state = .paid
        try await withHarness(store: store, records: [record]) { h in
            try await h.coordinator.recoverOnStart()
            #expect(await h.drive(step: .seconds(1), maxSteps: 100) { h.store.record("T-1")?.state == .refundDue })
            #expect(h.controller.dispenseCount == 0)
        }
    }

    @Test(arguments: StoreKind.allCases) func aVendWhoseSessionEndedIsDeniedAsDuplicateWithoutANewInvoice(
        store: StoreKind
    ) async {
        var ended = invoicedRecord(tradeNo: "T-1", deadline: t0)
        ended.state = .dispensed
        await withHarness(store: store, records: [ended]) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.deny(v1, .duplicateID)] })
            #expect(h.invoices.state.read(\.creates) == 0)
        }
    }

    @Test(arguments: StoreKind.allCases) func aSecondVendWhileOneIsActiveIsDeniedUnavailable(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            await h.coordinator.handle(.vendRequested(request("v2")))
            #expect(await eventually { h.controller.commands == [.accept(v1), .deny(vendID("v2"), .unavailable)] })
            #expect(h.invoices.state.read(\.creates) == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func aProductNotInThePlanogramIsDeniedInvalid(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request(product: "99")))
            #expect(await eventually { h.controller.commands == [.deny(v1, .invalid)] })
            #expect(h.store.record("T-1") == nil)
        }
    }

    @Test(arguments: StoreKind.allCases) func pingHelloAndMalformedLinesAreAnswered(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.ping)
            await h.coordinator.handle(.hello(name: "rig", version: "1"))
            await h.coordinator.handle(.malformed(line: "VEND", reason: "VEND needs an id, a product and a price"))
            await h.coordinator.setService(.outOfService(.api, reason: "api unreachable"))
            await h.coordinator.handle(.hello(name: "rig", version: "1"))
            await h.coordinator.handle(.vendRequested(request()))
            #expect(
                await eventually {
                    h.controller.commands == [
                        .pong, .ready, .error(message: "VEND needs an id, a product and a price"),
                        .outOfService(reason: "api unreachable"), .outOfService(reason: "api unreachable"),
                        .deny(v1, .unavailable),
                    ]
                })
        }
    }

    @Test(arguments: StoreKind.allCases) func aJournalFailureBeforeDispenseSendsNoDispense(store: StoreKind) async {
        await withHarness(store: store) { h in
            h.store.state.write { $0.failUpdatesTo = .dispensing }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.commands.count == 2 })
            #expect(h.controller.commands == [.accept(v1), .deny(v1, .error)])
            // `paid` and `dispensing` are one commit (issue 16): the failed write took both, so the
            // journal still holds `invoiced`; recovery polls, finds it paid and makes it refund due.
            #expect(h.store.record("T-1")?.state == .invoiced, "the paid+dispensing commit is all or nothing")
            #expect(h.store.state.read { $0.events.map(\.1) }.contains("paid") == false)
            #expect(await eventually { h.outcomes.get.count == 1 })
        }
    }

    @Test(arguments: StoreKind.allCases) func theLinkGoingDownAfterDispenseIsDispenseUnknown(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
            await h.coordinator.linkChanged(up: false)
            #expect(await eventually { h.store.record("T-1")?.state == .dispenseUnknown })
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands.last == .deny(v1, .duplicateID) })
            #expect(h.controller.dispenseCount == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func anUnreachableAPIMidSessionIsRidOutAndAPaymentAfterwardsDispenses(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .failure(FakeError(description: "connection refused")) }
            let before = h.invoices.state.read(\.statusCalls)
            await h.idle(steps: 200, step: .milliseconds(100))
            let failedPolls = h.invoices.state.read(\.statusCalls) - before
            #expect(failedPolls > 3, "kept polling")
            #expect(failedPolls < 40, "backed off (200 polls at the floor)")
            #expect(h.store.record("T-1")?.state == .invoiced)
            #expect(h.controller.commands == [.accept(v1)])
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(500)) { h.controller.dispenseCount == 1 })
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aControllerRestartMidVendIsAnsweredReadyAndTheReclaimResumesTheSameInvoice(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            await h.coordinator.handle(.hello(name: "rig", version: "2"))
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1), .ready, .accept(v1)] })
            #expect(h.invoices.state.read(\.creates) == 1)
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aCreateWithALostAnswerIsLookedUpAndTheFoundInvoiceUsedWithoutASecondCreate(store: StoreKind) async {
        await withHarness(store: store) { h in
            h.invoices.state.write {
                $0.create = .failure(.outcomeUnknown(message: "read timeout"))
                $0.find = .success(invoice())
            }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            #expect(h.invoices.state.read(\.creates) == 1)
            #expect(h.invoices.state.read(\.finds) == 1)
            #expect(h.store.record("T-1")?.reference == InvoiceReference("ref-1"))
        }
    }

    @Test(arguments: StoreKind.allCases) func aCreateTheAPICouldNotTakeIsDeniedUnavailable(store: StoreKind) async {
        await withHarness(store: store) { h in
            h.invoices.state.write { $0.create = .failure(.unavailable(message: "connection refused")) }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.deny(v1, .unavailable)] })
            #expect(h.store.record("T-1")?.state == .failed)
        }
    }

    @Test(arguments: StoreKind.allCases) func aCancelTheAPICannotTakeIsRetriedInTheBackgroundWithoutBlockingTheNextVend(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.invoices.state.write { $0.cancel = .failed("connection refused") }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            #expect(await h.drive(step: .seconds(1), maxSteps: 200) { h.controller.commands.count == 2 })
            #expect(h.controller.commands.last == .deny(v1, .timeout))
            #expect(h.store.record("T-1")?.state == .invoiced)
            #expect(h.store.record("T-1")?.note?.contains("cancel pending") == true)
            h.invoices.state.write { $0.create = .success(invoice("ref-2")) }
            await h.coordinator.handle(.vendRequested(request("v2")))
            #expect(await eventually { h.controller.commands.last == .accept(vendID("v2")) })
            h.invoices.state.write { $0.cancel = .cancelled }
            #expect(await h.drive(step: .seconds(1), maxSteps: 60) { h.store.record("T-1")?.state == .cancelled })
            #expect(h.invoices.state.read(\.cancels) >= 2)
        }
    }

    @Test(arguments: StoreKind.allCases) func shutdownLeavesTheSessionInTheJournalForRecovery(store: StoreKind) async {
        let h = Harness(store: store)
        await h.coordinator.handle(.vendRequested(request()))
        #expect(await eventually { h.controller.commands == [.accept(v1)] })
        h.stop()
        let ended = Locked(false)
        Task {
            _ = await h.runTask.value
            ended.write { $0 = true }
        }
        #expect(await eventually { ended.get }, "run() returns when cancelled")
        #expect(h.store.record("T-1")?.state == .invoiced)
        h.store.removeFiles()
    }
}
