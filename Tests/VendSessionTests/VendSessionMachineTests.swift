import Foundation
import KioskCore
import Testing
import VendSession

@Suite("Vend session: the happy path and dispense rules")
struct HappyPathTests {
    @Test func startAsksForAnInvoice() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        // And the offer deadline: 90 s from the VEND less the 15 s a customer needs to pay.
        #expect(driver.send(.start) == [.createInvoice, .startTimer(.offerDeadline, at: t0.addingTimeInterval(75))])
    }

    @Test func invoiceIsJournaledBeforeTheQRIsShownAndTheVendAccepted() throws {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let effects = driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        let persisted = try #require(effects.firstIndex(persisting: .invoiced))
        guard case .commit(let steps) = effects[persisted], let record = steps.last?.record else {
            Issue.record("no commit")
            return
        }
        #expect(record.reference == InvoiceReference("ref-1"))
        #expect(record.qrPayload == "pay:ref-1")
        #expect(record.paymentDeadline == t0.addingTimeInterval(90))
        let show = try #require(effects.firstIndex { if case .show(.pay) = $0 { return true } else { return false } })
        let accept = try #require(effects.firstIndex(of: .send(.accept(vendID("v1")))))
        #expect(persisted < show && show < accept)
        #expect(effects.contains(.startPolling(InvoiceReference("ref-1"))))
        #expect(effects.contains(timer: .paymentDeadline))
    }

    @Test func paidIsJournaledThenDispensingIsJournaledStrictlyBeforeDispense() throws {
        var driver = Driver.invoiced()
        driver.advance(10)
        let effects = driver.send(.statusPolled(.paid))
        let paid = try #require(effects.firstIndex(persisting: .paid))
        let dispensing = try #require(effects.firstIndex(persisting: .dispensing))
        let dispense = try #require(effects.dispenseIndex)
        // One commit, decided by the machine: paid with dispensing, before the DISPENSE.
        #expect(paid == dispensing && dispensing < dispense)
        #expect(effects.commits == [[.paid, .dispensing]])
        #expect(effects.commands == [.dispense(vendID("v1"), price: cents(150))])
        #expect(effects.contains(.stopPolling))
        #expect(driver.machine.record.paidAt == t0.addingTimeInterval(10))
    }

    /// The commit of paid + dispensing failed: the DISPENSE after it never went out, so the
    /// controller still waiting hears DENY error (the machine decides from what it emitted).
    @Test func aFailedPaidAndDispensingCommitDeniesTheWaitingController() throws {
        var driver = Driver.invoiced()
        let effects = driver.send(.statusPolled(.paid))
        let index = try #require(effects.firstIndex(persisting: .dispensing))
        guard case .commit(let steps) = effects[index] else {
            Issue.record("no commit")
            return
        }
        let answer = driver.send(.commitFailed(steps, unexecuted: Array(effects[(index + 1)...])))
        #expect(answer == [.send(.deny(vendID("v1"), .error))])
        // Asked again (a second report), nothing more: the controller was answered.
        #expect(driver.send(.commitFailed(steps, unexecuted: [])).isEmpty)
    }

    /// A commit after the DISPENSE went out (dispensed) failed: no DENY, the machine may have
    /// vended; recovery settles the session from the journal (dispensing -> dispense_unknown).
    @Test func aFailedCommitAfterTheDispenseWentOutSendsNoDeny() throws {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        driver.send(.dispenseSent)
        let effects = driver.send(.controllerDispensed)
        let index = try #require(effects.firstIndex(persisting: .dispensed))
        guard case .commit(let steps) = effects[index] else {
            Issue.record("no commit")
            return
        }
        #expect(driver.send(.commitFailed(steps, unexecuted: Array(effects[(index + 1)...]))).isEmpty)
    }

    /// A DENY emitted after the failed commit still goes out (a DENY authorises nothing).
    @Test func aFailedCommitReturnsTheDenyEmittedAfterIt() throws {
        // No time left to offer an invoice: the session ends failed (a commit), then DENY.
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.advance(100)
        let effects = driver.send(.start)
        let deny = try #require(effects.firstIndex { if case .send(.deny) = $0 { true } else { false } })
        let commit = try #require(effects.firstIndex { if case .commit = $0 { true } else { false } })
        #expect(commit < deny)
        guard case .commit(let steps) = effects[commit] else {
            Issue.record("no commit")
            return
        }
        let answer = driver.send(.commitFailed(steps, unexecuted: Array(effects[(commit + 1)...])))
        #expect(answer == [effects[deny]])
    }

    @Test func dispensedEndsTheSessionDispensed() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        driver.send(.dispenseSent)
        let effects = driver.send(.controllerDispensed)
        #expect(effects.finishedState == .dispensed)
        #expect(driver.state == .dispensed)
    }

    @Test func failedAfterDispenseIsRefundDueWithTheReason() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        let effects = driver.send(.controllerDispenseFailed(reason: "column 5 empty"))
        #expect(effects.finishedState == .refundDue)
        #expect(driver.machine.record.note?.contains("column 5 empty") == true)
        #expect(effects.screens == [.refundDue(tradeNo: TradeNo("T-1"))])
    }

    @Test func controllerGoneAfterDispenseCommandedIsDispenseUnknownAndNeverDispensesAgain() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        let effects = driver.send(.controllerGone(reason: "HELLO"))
        #expect(effects.finishedState == .dispenseUnknown)
        #expect(
            effects.screens == [.dispenseUnknown(tradeNo: TradeNo("T-1"))], "the customer is told what happens next")
        driver.send(.controllerReclaimed(request()))
        driver.send(.statusPolled(.paid))
        #expect(driver.all.dispenseCount == 1)
        #expect(driver.state == .dispenseUnknown)
    }

    @Test func dispenseThatCouldNotBeWrittenIsRefundDue() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        let effects = driver.send(.dispenseSendFailed("EIO"))
        #expect(effects.finishedState == .refundDue)
    }

    @Test func repeatedPaidStatusesDispenseOnce() {
        var driver = Driver.invoiced()
        for _ in 0..<5 { driver.send(.statusPolled(.paid)) }
        driver.send(.controllerReclaimed(request()))
        #expect(driver.all.dispenseCount == 1)
    }

    @Test(arguments: [InvoiceStatus.pending, .notPayable("expired"), .notPayable("")])
    func statusesOtherThanPaidNeverDispense(status: InvoiceStatus) {
        var driver = Driver.invoiced()
        for _ in 0..<3 { driver.send(.statusPolled(status)) }
        #expect(driver.all.dispenseCount == 0)
        #expect(driver.state == .invoiced)
    }

    @Test func anInvoiceCancelledOutsideTheDaemonEndsCancelledWithoutDispense() {
        var driver = Driver.invoiced()
        let effects = driver.send(.statusPolled(.cancelled))
        #expect(effects.finishedState == .cancelled)
        #expect(effects.denies == [.error])
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func anInvoiceWhoseTotalIsNotThePriceIsCancelledAndDeniedAsError() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let effects = driver.send(.invoiceCreated(invoice(total: 15), qrPayload: "pay:ref-1"))
        #expect(effects.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(effects.commands.isEmpty)
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.cancelled))
        #expect(end.denies == [.error])
        #expect(driver.state == .cancelled)
    }

    @Test(arguments: [false, true])
    func aPaymentOfAnInvoiceWhoseTotalIsNotThePriceIsRefundDueNeverDispensed(foundPaid: Bool) {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        if foundPaid {
            driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "lost")))
            driver.send(.invoiceFound(invoice(total: 15, status: .paid), qrPayload: "pay:ref-1"))
        } else {
            driver.send(.invoiceCreated(invoice(total: 15), qrPayload: "pay:ref-1"))
            driver.send(.cancelAnswered(.alreadyPaid))
            driver.send(.statusRechecked(.paid))
        }
        #expect(driver.state == .refundDue)
        #expect(driver.all.dispenseCount == 0)
        #expect(driver.machine.record.note?.contains("total differs") == true)
    }

    @Test func aTimerThatWasNeverScheduledIsIgnored() {
        var driver = Driver.invoiced()
        driver.advance(10)
        #expect(driver.send(.timerFired(.retry)).isEmpty)
        #expect(driver.send(.timerFired(.claimGrace)).isEmpty)
        #expect(driver.machine.phase == .awaitingPayment)
    }
}

@Suite("Vend session: timeout, abort and the cancel/payment race")
struct CancelTests {
    @Test func timeoutCancelsAtTheAPIThenDeniesTimeoutOnceConfirmed() {
        var driver = Driver.invoiced()
        let atDeadline = driver.fire(.paymentDeadline)
        #expect(atDeadline.contains(.stopPolling))
        #expect(atDeadline.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(atDeadline.commands.isEmpty, "no DENY before the cancel is confirmed")
        #expect(driver.send(.cancelAnswered(.cancelled)).contains(.checkStatus(InvoiceReference("ref-1"))))
        let end = driver.send(.statusRechecked(.cancelled))
        #expect(end.commands == [.deny(vendID("v1"), .timeout)])
        #expect(end.finishedState == .cancelled)
    }

    @Test func abortCancelsAtTheAPIThenDeniesAborted() {
        var driver = Driver.invoiced()
        driver.advance(5)
        let abort = driver.send(.controllerAborted)
        #expect(abort.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.cancelled))
        #expect(end.commands == [.deny(vendID("v1"), .aborted)])
        #expect(driver.state == .cancelled)
    }

    @Test func timeoutCancelRefusedAsPaidWhileTheControllerStillWaitsDispenses() throws {
        var driver = Driver.invoiced()
        driver.fire(.paymentDeadline)
        let refused = driver.send(.cancelAnswered(.alreadyPaid))
        #expect(refused.commands.isEmpty, "a refused cancel alone authorises nothing")
        #expect(refused.contains(.checkStatus(InvoiceReference("ref-1"))))
        let paid = driver.send(.statusRechecked(.paid))
        let dispensing = try #require(paid.firstIndex(persisting: .dispensing))
        #expect(dispensing < (paid.dispenseIndex ?? -1))
        #expect(driver.all.denies.isEmpty)
    }

    @Test func paymentSeenByAPollAfterTheTimeoutCancelStartedStillDispensesOnce() {
        var driver = Driver.invoiced()
        driver.fire(.paymentDeadline)
        driver.send(.statusPolled(.paid))  // a poll in flight when the cancel started
        driver.send(.cancelAnswered(.alreadyPaid))
        driver.send(.statusRechecked(.paid))
        #expect(driver.all.dispenseCount == 1)
        #expect(driver.state == .dispensing)
    }

    @Test func cancelConfirmedButRecheckSaysPaidAfterAbortIsRefundDue() {
        var driver = Driver.invoiced()
        driver.send(.controllerAborted)
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.paid))
        #expect(end.finishedState == .refundDue)
        #expect(end.persistedStates == [.paid, .refundDue])
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func abortCancelRefusedAsPaidIsRefundDue() {
        var driver = Driver.invoiced()
        driver.send(.controllerAborted)
        driver.send(.cancelAnswered(.alreadyPaid))
        let end = driver.send(.statusRechecked(.paid))
        #expect(end.finishedState == .refundDue)
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func paymentAfterTheControllerWasDeniedIsRefundDue() {
        var driver = Driver.invoiced()
        driver.fire(.paymentDeadline)
        let parked = driver.send(.cancelAnswered(.failed("connection refused")))
        #expect(parked.commands == [.deny(vendID("v1"), .timeout)])
        driver.fire(.retry)
        driver.send(.cancelAnswered(.alreadyPaid))
        let end = driver.send(.statusRechecked(.paid))
        #expect(end.finishedState == .refundDue)
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func cancelRefusedAsPaidButStatusPendingDoesNotDispenseAndRetriesTheCancel() {
        var driver = Driver.invoiced()
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.alreadyPaid))
        let recheck = driver.send(.statusRechecked(.pending))
        #expect(recheck.contains(timer: .retry))
        #expect(driver.fire(.retry).contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func abortWhileTheInvoiceIsBeingCreatedCancelsItOnceItExists() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        // The controller is released at once (issue 14); the invoice is cancelled once it exists.
        #expect(driver.send(.controllerAborted).denies == [.aborted])
        let created = driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        #expect(created.persistedStates == [.invoiced])
        #expect(created.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(created.commands.isEmpty)
        driver.send(.cancelAnswered(.cancelled))
        #expect(driver.send(.statusRechecked(.cancelled)).finishedState == .cancelled)
        #expect(driver.all.denies == [.aborted])
    }
}

@Suite("Vend session: the API unreachable or failing")
struct APIFailureTests {
    @Test func pollFailuresKeepTheSessionOpenAndAPaidStatusAfterwardsDispenses() {
        var driver = Driver.invoiced()
        for _ in 0..<20 {
            driver.advance(1)
            let effects = driver.send(.pollFailed("timeout"))
            #expect(effects.commands.isEmpty)
            #expect(effects.persistedStates.isEmpty)
        }
        #expect(driver.state == .invoiced)
        driver.send(.statusPolled(.paid))
        #expect(driver.all.dispenseCount == 1)
    }

    @Test func cancelThatCannotReachTheAPIKeepsTheSessionInvoicedWithANoteAndRetries() {
        var driver = Driver.invoiced()
        driver.fire(.paymentDeadline)
        let parked = driver.send(.cancelAnswered(.failed("connection refused")))
        #expect(parked.commands == [.deny(vendID("v1"), .timeout)])
        #expect(parked.persistedStates == [.invoiced])
        #expect(driver.machine.record.note?.contains("cancel pending") == true)
        #expect(driver.machine.isOpen)
        #expect(parked.finishedState == nil)
        // Back-off: 1 s, then 2 s.
        #expect(driver.machine.timers[.retry] == driver.now.addingTimeInterval(1))
        driver.fire(.retry)
        driver.send(.cancelAnswered(.failed("connection refused")))
        #expect(driver.machine.timers[.retry] == driver.now.addingTimeInterval(2))
        driver.fire(.retry)
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.cancelled))
        #expect(end.finishedState == .cancelled)
        #expect(end.commands.isEmpty, "the controller was already told")
        #expect(driver.all.denies == [.timeout])
    }

    @Test func statusRecheckThatFailsReleasesTheControllerAndIsRetried() {
        var driver = Driver.invoiced()
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.cancelled))
        let failed = driver.send(.recheckFailed("503"))
        #expect(failed.denies == [.timeout])
        #expect(driver.fire(.retry).contains(.checkStatus(InvoiceReference("ref-1"))))
        #expect(driver.send(.statusRechecked(.cancelled)).finishedState == .cancelled)
    }

    @Test(arguments: [(true, DenyReason.invalid), (false, DenyReason.error)])
    func createRejectedFailsAndDenies(requestInvalid: Bool, reason: DenyReason) {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let effects = driver.send(.invoiceCreateFailed(.rejected(message: "422", requestInvalid: requestInvalid)))
        #expect(effects.finishedState == .failed)
        #expect(effects.denies == [reason])
    }

    @Test func createUnavailableFailsAndDeniesUnavailable() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let effects = driver.send(.invoiceCreateFailed(.unavailable(message: "connection refused")))
        #expect(effects.finishedState == .failed)
        #expect(effects.denies == [.unavailable])
    }

    @Test func createOutcomeUnknownLooksTheTradeNoUpAndAFoundInvoiceProceeds() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let unknown = driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "read timeout")))
        #expect(unknown.contains(.lookupInvoice(TradeNo("T-1"))))
        #expect(unknown.commands.isEmpty)
        let found = driver.send(.invoiceFound(invoice(), qrPayload: "pay:ref-1"))
        #expect(found.persistedStates == [.invoiced])
        #expect(found.commands == [.accept(vendID("v1"))])
        #expect(found.contains(.startPolling(InvoiceReference("ref-1"))))
        #expect(!driver.all.contains(.createInvoice) || driver.all.filter { $0 == .createInvoice }.count == 1)
    }

    @Test func createOutcomeUnknownAndNotFoundFailsWithDenyUnavailable() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "read timeout")))
        let effects = driver.send(.invoiceNotFound)
        #expect(effects.finishedState == .failed)
        #expect(effects.denies == [.unavailable])
        #expect(driver.machine.record.note == "no invoice was created for this trade_no")
    }

    @Test func lookupThatCannotReachTheAPIReleasesTheControllerAndAFoundInvoiceIsThenCancelled() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "read timeout")))
        let failed = driver.send(.lookupFailed("connection refused"))
        #expect(failed.denies == [.unavailable])
        #expect(driver.fire(.retry).contains(.lookupInvoice(TradeNo("T-1"))))
        let found = driver.send(.invoiceFound(invoice(), qrPayload: "pay:ref-1"))
        #expect(found.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(found.commands.isEmpty)
    }
}

@Suite("Vend session: controller gone and re-claims")
struct ControllerTests {
    @Test func controllerGoneWhileAwaitingPaymentKeepsTheInvoiceUntilTheGraceThenCancels() {
        var driver = Driver.invoiced()
        driver.advance(5)
        let gone = driver.send(.controllerGone(reason: "link down"))
        #expect(gone.commands.isEmpty)
        #expect(!gone.contains(.stopPolling))
        #expect(driver.machine.timers[.claimGrace] == driver.now.addingTimeInterval(15))
        let grace = driver.fire(.claimGrace)
        #expect(grace.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.cancelled))
        #expect(end.finishedState == .cancelled)
        #expect(end.commands.isEmpty)
    }

    @Test func controllerGoneThenPaidWithoutReclaimIsRefundDueAtTheGrace() {
        var driver = Driver.invoiced()
        driver.send(.controllerGone(reason: "link down"))
        let paid = driver.send(.statusPolled(.paid))
        #expect(paid.persistedStates == [.paid])
        #expect(paid.dispenseCount == 0)
        #expect(driver.fire(.claimGrace).finishedState == .refundDue)
    }

    @Test func controllerGoneThenReclaimedResumesWithTheSameQRAndAcceptsAgain() {
        var driver = Driver.invoiced()
        driver.send(.controllerGone(reason: "HELLO"))
        driver.advance(3)
        let resumed = driver.send(.controllerReclaimed(request()))
        #expect(resumed.commands == [.accept(vendID("v1"))])
        #expect(
            resumed.screens == [
                .pay(qrPayload: "pay:ref-1", product: "Soda", price: cents(150), deadline: t0.addingTimeInterval(90))
            ])
        #expect(!resumed.contains(.createInvoice))
        #expect(driver.send(.timerFired(.claimGrace)).isEmpty)
        driver.send(.statusPolled(.paid))
        #expect(driver.all.dispenseCount == 1)
    }

    @Test func aRepeatedVendForTheActiveSessionAcceptsAgainWithoutANewInvoice() {
        var driver = Driver.invoiced()
        let again = driver.send(.controllerReclaimed(request()))
        #expect(again.commands == [.accept(vendID("v1"))])
        #expect(driver.all.filter { $0 == .createInvoice }.count == 1)
    }

    @Test func aVendForAnEndedSessionIsDeniedAsDuplicate() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        driver.send(.controllerDispensed)
        let again = driver.send(.controllerReclaimed(request()))
        #expect(again == [.send(.deny(vendID("v1"), .duplicateID))])
        #expect(driver.state == .dispensed)
    }

    @Test func aVendWithTheSameIdButAnotherProductIsDeniedReleasesTheControllerAndCancels() {
        var driver = Driver.invoiced()
        let other = driver.send(.controllerReclaimed(request(product: "7")))
        #expect(other.commands == [.deny(vendID("v1"), .duplicateID)])
        #expect(other.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(!driver.machine.controllerWaiting)
        #expect(driver.machine.record.product == product("5"))
    }

    @Test func aVendForASessionBeingCancelledIsDeniedAsDuplicate() {
        var driver = Driver.invoiced()
        driver.send(.controllerGone(reason: "link down"))
        driver.fire(.claimGrace)
        #expect(driver.send(.controllerReclaimed(request())).denies == [.duplicateID])
    }
}
