import Foundation
import KioskCore
import KioskTestSupport
import Testing
import VendSession

/// Event orders found by an adversarial review of the money-safety rules.
@Suite("Vend session: adversarial event orders")
struct AdversarialTests {
    let v1 = vendID("v1")
    let v2 = vendID("v2")

    // MARK: 404 for our own reference (cancelled invoices are soft-deleted)

    @Test func aStatusReCheckAnswering404AfterOurCancelEndsTheSessionCancelled() {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.cancelled))
        let effects = driver.send(.invoiceGone)
        #expect(effects.finishedState == .cancelled)
        #expect(effects.denies == [.timeout])
        #expect(!driver.machine.isOpen)
    }

    @Test func aPoll404WhileAwaitingPaymentCancelsAndReChecksRatherThanEndingAtOnce() {
        var driver = Driver.invoiced()
        let effects = driver.send(.invoiceGone)
        // A 404 never ends a vend by itself: the cancel (404 -> cancelled, 422 -> already paid)
        // and the re-check decide, so a payment is never forgotten on a stray 404.
        #expect(effects.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(effects.finishedState == nil)
        driver.send(.cancelAnswered(.alreadyPaid))
        let paid = driver.send(.statusRechecked(.paid))
        #expect(paid.dispenseCount == 1)
    }

    @Test(arguments: StoreKind.allCases) func aTimedOutVendWhoseCancelledInvoiceAnswers404EndsAndStopsCallingTheAPI(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.invoices.state.write { $0.cancelledAnswers404 = true }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            #expect(await h.drive(step: .seconds(1), maxSteps: 400) { h.store.record("T-1")?.state == .cancelled })
            // The DENY goes out after the cancelled state is journaled (record first, then tell).
            #expect(await eventually { h.controller.commands == [.accept(v1), .deny(v1, .timeout)] })
            #expect(await eventually { await h.coordinator.openSessions().isEmpty })
            let calls = h.invoices.state.read { $0.statusCalls + $0.cancels }
            await h.idle(steps: 200, step: .seconds(1))
            #expect(h.invoices.state.read { $0.statusCalls + $0.cancels } == calls)
        }
    }

    // MARK: A wall clock that steps back (no RTC, NTP) must not disarm a timer

    @Test(arguments: StoreKind.allCases) func aPaymentDeadlineStillEndsTheVendWhenTheWallClockStepsBack(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.wallStep.write { $0 = -3600 }
            #expect(await h.drive(step: .seconds(1), maxSteps: 200) { h.controller.commands.count == 2 })
            #expect(h.controller.commands == [.accept(v1), .deny(v1, .timeout)])
            #expect(h.store.record("T-1")?.state == .cancelled)
        }
    }

    @Test func aPendingTimerFiredByItsExecutorBeforeTheWallDeadlineIsHonoured() {
        var driver = Driver.invoiced()
        driver.advance(-3600)  // the monotonic sleep ended, the wall clock stepped back
        let effects = driver.send(.timerFired(.paymentDeadline))
        #expect(effects.contains(.cancelInvoice(InvoiceReference("ref-1"))))
    }

    @Test func aTimerThatIsNoLongerPendingIsIgnored() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        #expect(driver.send(.timerFired(.paymentDeadline)).isEmpty)
    }

    // MARK: A silent controller after DISPENSE must not stop every later vend (vmc-line)

    @Test(arguments: StoreKind.allCases)
    func aNewVendWhileADispenseAwaitsItsResultEndsThatSessionDispenseUnknownAndIsServed(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request("v1")))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
            // DISPENSED v1 was lost on the line; the customer's next choice arrives.
            h.invoices.state.write {
                $0.status = .success(.pending)
                $0.create = .success(invoice("ref-2"))
            }
            await h.coordinator.handle(.vendRequested(request("v2")))
            #expect(await eventually { h.controller.commands.last == .accept(v2) })
            #expect(h.store.record("T-1")?.state == .dispenseUnknown)
            #expect(h.controller.dispenseCount == 1)
            // A late DISPENSED v1 changes nothing.
            await h.coordinator.handle(.dispensed(v1))
            #expect(h.store.record("T-1")?.state == .dispenseUnknown)
        }
    }
}

/// A `DENY` releases the controller: no `DISPENSE` may follow it for that vend.
@Suite("Vend session: a DENY answering a re-sent VEND releases the controller")
struct DenyOnReclaimTests {
    @Test func aVendReSentWhileCancellingIsDeniedAndALatePaymentBecomesRefundDue() {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        #expect(driver.send(.controllerReclaimed(request())).denies == [.duplicateID])
        driver.send(.cancelAnswered(.alreadyPaid))
        let effects = driver.send(.statusRechecked(.paid))
        #expect(effects.dispenseCount == 0)
        #expect(effects.finishedState == .refundDue)
    }

    @Test func aVendReSentAfterTheDeadlineBeforeTheTimerFiredIsDeniedAndALatePaymentBecomesRefundDue() {
        var driver = Driver.invoiced()
        driver.advance(91)  // the deadline passed; its timer is late
        #expect(driver.send(.controllerReclaimed(request())).denies == [.duplicateID])
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.alreadyPaid))
        let effects = driver.send(.statusRechecked(.paid))
        #expect(effects.dispenseCount == 0)
        #expect(effects.finishedState == .refundDue)
    }

    @Test func aVendWithTheSameIdButAnotherPriceIsDeniedAndReleasesThePaidVend() {
        var driver = Driver.invoiced()
        #expect(driver.send(.controllerReclaimed(request(price: 99))).denies == [.duplicateID])
        let effects = driver.send(.statusPolled(.paid))
        #expect(effects.dispenseCount == 0)
        #expect(effects.finishedState == .refundDue)
    }
}

@Suite("Vend coordinator: every VEND gets an answer")
struct VendAnswerTests {
    @Test(arguments: StoreKind.allCases) func aVendForASessionThatRecoverySettlesAtOnceIsDeniedDuplicateID(
        store: StoreKind
    ) async {
        var record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        record.state = .dispensing
        // Open in the journal but not in memory (a journal write failed earlier, so it was parked).
        await withHarness(store: store, records: [record]) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.deny(vendID("v1"), .duplicateID)] })
            #expect(h.store.record("T-1")?.state == .dispenseUnknown)
            #expect(h.controller.dispenseCount == 0)
        }
    }
}

@Suite("Vend coordinator: a session parked by a journal failure is settled without a restart")
struct ParkedSessionTests {
    let v1 = vendID("v1")

    @Test(arguments: StoreKind.allCases) func aPaymentWhoseJournalWriteFailedBecomesRefundDueOnceTheJournalHeals(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.store.state.write { $0.failUpdatesTo = .paid }
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.commands.count == 2 })
            #expect(h.controller.commands == [.accept(v1), .deny(v1, .error)])
            #expect(h.store.record("T-1")?.state == .invoiced)
            // The QR of the parked session comes down.
            #expect(await h.drive(step: .seconds(1), maxSteps: 20) { h.screen.shown.get.last == .idle })
            h.store.state.write { $0.failUpdatesTo = nil }
            #expect(await h.drive(step: .seconds(1), maxSteps: 200) { h.store.record("T-1")?.state == .refundDue })
            #expect(h.controller.dispenseCount == 0)
            #expect(await eventually { await h.coordinator.openSessions().isEmpty })
        }
    }

    @Test(arguments: StoreKind.allCases) func anAbandonedInvoiceWhoseJournalWriteFailedIsCancelledOnceTheJournalHeals(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.store.state.write { $0.failUpdatesTo = .cancelled }
            await h.coordinator.handle(.vendAborted(v1))
            #expect(await eventually { h.outcomes.get.count == 1 })
            #expect(h.store.record("T-1")?.state == .invoiced)
            h.store.state.write { $0.failUpdatesTo = nil }
            #expect(await h.drive(step: .seconds(1), maxSteps: 200) { h.store.record("T-1")?.state == .cancelled })
            #expect(h.controller.dispenseCount == 0)
        }
    }
}

/// A cancel that does not take effect must not keep the controller waiting: it is told now, and
/// the cancel is retried in the background (otherwise every later VEND is denied unavailable).
@Suite("Vend session: an ineffective cancel releases the controller")
struct IneffectiveCancelTests {
    /// Issue 22: a word other than pending/paid/cancelled is final (not payable): the session
    /// ends, with the word, instead of retrying the cancel for ever.
    @Test func aReCheckSayingANotPayableWordAfterTheTimeoutCancelEndsTheSessionWithTheWord() {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.alreadyPaid))
        let effects = driver.send(.statusRechecked(.notPayable("expired")))
        #expect(effects.denies == [.timeout])
        #expect(effects.finishedState == .cancelled)
        #expect(!effects.contains(timer: .retry))
        #expect(driver.machine.record.note?.contains("'expired'") == true)
    }

    @Test(arguments: [InvoiceStatus.pending])
    func aReCheckThatIsNotFinalAfterTheTimeoutCancelReleasesTheControllerAndRetries(status: InvoiceStatus) {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.alreadyPaid))
        let effects = driver.send(.statusRechecked(status))
        #expect(effects.denies == [.timeout])
        #expect(!driver.machine.controllerWaiting)
        #expect(effects.contains(timer: .retry))
        // The retry cancels again; a payment that lands now is refund due, never dispensed.
        #expect(driver.fire(.retry).contains(.cancelInvoice(InvoiceReference("ref-1"))))
        driver.send(.cancelAnswered(.alreadyPaid))
        let paid = driver.send(.statusRechecked(.paid))
        #expect(paid.dispenseCount == 0)
        #expect(paid.finishedState == .refundDue)
    }
}

@Suite("Vend coordinator: controller lines in the wrong order")
struct ControllerOrderTests {
    let v1 = vendID("v1")

    @Test(arguments: StoreKind.allCases)
    func abortAndResultsForOtherIdsAfterDispenseChangeNothingAndTheRightResultEndsTheVend(store: StoreKind) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.controller.dispenseCount == 1 })
            await h.coordinator.handle(.vendAborted(v1))
            await h.coordinator.handle(.dispensed(vendID("v9")))
            await h.coordinator.handle(.dispenseFailed(vendID("v9"), reason: "jam"))
            await h.coordinator.handle(.vendRequested(request()))  // v1 again: a duplicate, no second DISPENSE
            #expect(await eventually { h.controller.commands.last == .deny(v1, .duplicateID) })
            #expect(h.store.record("T-1")?.state == .dispensing)
            await h.coordinator.handle(.dispensed(v1))
            #expect(await eventually { h.store.record("T-1")?.state == .dispensed })
            await h.coordinator.handle(.dispenseFailed(v1, reason: "late"))
            await h.idle(steps: 20, step: .seconds(1))
            #expect(h.store.record("T-1")?.state == .dispensed)
            #expect(h.controller.dispenseCount == 1)
            #expect(h.invoices.state.read(\.cancels) == 0)
        }
    }
}

/// The "invoice total differs from the price" decision lives only in memory: a crash after any
/// journal write of such a session must not let recovery dispense against that invoice.
@Suite("Vend session: a total mismatch survives a crash")
struct MismatchCrashTests {
    /// Every record the effects journal, as recovery would find it after a crash right after it.
    func journaledRecords(_ effects: [SessionEffect]) -> [SessionRecord] {
        effects.flatMap { if case .commit(let steps) = $0 { return steps.map(\.record) } else { return [] } }
            .filter { !$0.state.isFinal }
    }

    /// Recovers `record`, lets the controller re-claim the vend, and lets the invoice be paid.
    func dispensesAfterRecovery(_ record: SessionRecord) -> Int {
        var now = t0.addingTimeInterval(2)
        var (machine, effects) = VendSessionMachine.recover(record, policy: policy, now: now)
        effects += machine.handle(.controllerReclaimed(request()), now: now)
        for event: SessionEvent in [
            .invoiceFound(invoice(total: 15, status: .paid), qrPayload: "pay:ref-1"), .statusPolled(.paid),
            .cancelAnswered(.alreadyPaid), .statusRechecked(.paid),
        ] {
            now = now.addingTimeInterval(1)
            effects += machine.handle(event, now: now)
        }
        effects += machine.handle(.controllerReclaimed(request()), now: now)
        return effects.dispenseCount
    }

    @Test func aCrashAfterAMismatchedInvoiceWasJournaledNeverDispensesAgainstIt() throws {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let created = driver.send(.invoiceCreated(invoice(total: 15), qrPayload: "pay:ref-1"))
        let records = journaledRecords(created)
        #expect(!records.isEmpty)
        for record in records { #expect(dispensesAfterRecovery(record) == 0, "recovered from \(record.state)") }
    }

    @Test func aCrashAfterAMismatchedPaidInvoiceWasJournaledNeverDispensesAgainstIt() throws {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "lost")))
        let found = driver.send(.invoiceFound(invoice(total: 15, status: .paid), qrPayload: "pay:ref-1"))
        #expect(found.finishedState == .refundDue)
        for record in journaledRecords(found) {
            #expect(dispensesAfterRecovery(record) == 0, "recovered from \(record.state)")
        }
    }
}

@Suite("Vend session: a waiting controller is answered when a payment becomes refund due")
struct RefundDueAnswerTests {
    @Test func aMismatchedInvoiceFoundPaidWhileTheControllerWaitsIsDeniedError() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "lost")))
        let found = driver.send(.invoiceFound(invoice(total: 15, status: .paid), qrPayload: "pay:ref-1"))
        #expect(found.finishedState == .refundDue)
        #expect(found.denies == [.error])
    }

    @Test func aMismatchedInvoicePaidDuringItsCancelWhileTheControllerWaitsIsDeniedError() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreated(invoice(total: 15), qrPayload: "pay:ref-1"))
        driver.send(.cancelAnswered(.alreadyPaid))
        let paid = driver.send(.statusRechecked(.paid))
        #expect(paid.finishedState == .refundDue)
        #expect(paid.denies == [.error])
        #expect(driver.all.dispenseCount == 0)
    }
}
