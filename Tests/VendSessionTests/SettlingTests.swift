import Foundation
import KioskCore
import KioskTestSupport
import Testing
import VendSession

/// Issue 22: whatever the API answers, every session ends, within a bounded number of requests.
@Suite("Vend session: status words other than pending, paid, cancelled")
struct StatusWordTests {
    @Test(arguments: ["expired", "failed", "refunded", "", "Paid", "PENDING", "späť"])
    func everyOtherWordIsNotPayable(word: String) {
        #expect(InvoiceStatus(apiValue: word) == .notPayable(word))
        #expect(InvoiceStatus(apiValue: word).apiValue == word)
    }

    @Test func theThreeDocumentedWordsMapToThemselves() {
        #expect(InvoiceStatus(apiValue: "pending") == .pending)
        #expect(InvoiceStatus(apiValue: "paid") == .paid)
        #expect(InvoiceStatus(apiValue: "cancelled") == .cancelled)
    }

    @Test func anExpiredInvoiceEndsTheSessionCancelledWithTheWordAndDeniesTheController() {
        var driver = Driver.invoiced()
        let polled = driver.send(.statusPolled(.notPayable("expired")))
        #expect(polled.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(polled.contains(.stopPolling))
        // DELETE answers 422 and the status read after it still says expired.
        let end = driver.send(.cancelAnswered(.notPayable("expired")))
        #expect(end.finishedState == .cancelled)
        #expect(end.denies == [.error])
        #expect(driver.machine.record.note?.contains("'expired'") == true)
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func aPaymentReportedAfterTheWordIsStillAPaymentAndDispenses() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.notPayable("expired")))
        driver.send(.cancelAnswered(.alreadyPaid))
        let paid = driver.send(.statusRechecked(.paid))
        #expect(paid.dispenseCount == 1)
        #expect(driver.state == .dispensing)
    }

    @Test func aReCheckThatSaysTheWordEndsTheSession() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.notPayable("failed")))
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.notPayable("failed")))
        #expect(end.finishedState == .cancelled)
        #expect(end.persistedStates == [.cancelled])
    }

    @Test func anInvoiceFoundOrCreatedWithTheWordIsNeverOffered() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let created = driver.send(.invoiceCreated(invoice(status: .notPayable("expired")), qrPayload: "pay:ref-1"))
        #expect(created.commands.isEmpty)
        #expect(created.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(created.screens.allSatisfy { if case .pay = $0 { false } else { true } })
    }

    @Test func anUnknownWordIsJournaledOncePerChangeOfWord() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.notPayable("weird")))
        for word in ["weird", "weird", "weird", "odd", "odd", "weird"] {
            driver.send(.statusPolled(.notPayable(word)))
        }
        let notes = driver.all.compactMap { effect -> String? in
            if case .log(.unknownStatus, let detail) = effect { return detail }
            return nil
        }
        #expect(notes == ["status 'weird': not payable", "status 'odd': not payable", "status 'weird': not payable"])
    }
}

@Suite("Vend session: a poll answer older than the cancel")
struct StalePollTests {
    @Test func aPendingPollAnswerDuringTheReCheckIsNotTheReCheck() {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.alreadyPaid))
        // A poll sent before the DELETE answers pending now: it must not release the controller.
        let stale = driver.send(.statusPolled(.pending))
        #expect(stale.commands.isEmpty)
        #expect(driver.machine.controllerWaiting)
        // The re-check says paid: the customer who paid in time gets the product.
        #expect(driver.send(.statusRechecked(.paid)).dispenseCount == 1)
    }

    @Test func aFailedPollDuringTheReCheckIsNotAReCheckFailure() {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.cancelled))
        #expect(driver.send(.pollFailed("timeout")).isEmpty)
        #expect(driver.send(.statusRechecked(.cancelled)).finishedState == .cancelled)
    }
}

@Suite("Vend session: bounded settling")
struct BoundedSettlingTests {
    @Test func aCancelTheAPINeverTakesEndsUnresolvedAfterTheRetryBudget() {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        var cancels = 1
        while driver.machine.isOpen, cancels < 100 {
            driver.send(.cancelAnswered(.failed("503")))
            guard driver.machine.isOpen else { break }
            if driver.fire(.retry).contains(.cancelInvoice(InvoiceReference("ref-1"))) { cancels += 1 }
        }
        #expect(driver.state == .unresolved)
        #expect(cancels == policy.settleRetries + 1)
        #expect(driver.machine.record.note?.contains("ref-1") == true)
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func aCancelThatIsConfirmedButNeverTakesEffectEndsUnresolved() {
        // DELETE says done, the re-check keeps saying pending: the loop is bounded too.
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        var rounds = 0
        while driver.machine.isOpen, rounds < 100 {
            rounds += 1
            driver.send(.cancelAnswered(.cancelled))
            driver.send(.statusRechecked(.pending))
            if driver.machine.isOpen { driver.fire(.retry) }
        }
        #expect(driver.state == .unresolved)
        #expect(rounds == policy.settleRetries + 1)
    }

    @Test func aLookupThatKeepsFailingEndsUnresolvedWithoutAReference() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "timeout")))
        var lookups = 0
        while driver.machine.isOpen, lookups < 100 {
            lookups += 1
            driver.send(.lookupFailed("503"))
            if driver.machine.isOpen { driver.fire(.retry) }
        }
        #expect(driver.state == .unresolved)
        #expect(lookups == policy.settleRetries + 1)
        #expect(driver.machine.record.note?.contains("T-1") == true)
    }

    @Test func aSessionRecoveredPastItsSettlingTimeGetsOneAttemptThenEndsUnresolved() {
        let record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        let late = t0.adding(seconds: 3600)
        var (machine, effects) = VendSessionMachine.recover(record, policy: policy, now: late)
        #expect(effects.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        effects = machine.handle(.cancelAnswered(.failed("connection refused")), now: late)
        #expect(effects.finishedState == .unresolved)
    }

    @Test func anUnresolvedEndWhileTheCustomerMayBeThereShowsTheRefundNotice() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "timeout")))
        var last: [SessionEffect] = []
        while driver.machine.isOpen {
            last = driver.send(.lookupFailed("503"))
            if driver.machine.isOpen { driver.fire(.retry) }
        }
        #expect(last.finishedState == .unresolved)
        #expect(last.screens == [.unresolved(tradeNo: driver.machine.record.tradeNo)])
    }

    @Test func anUnresolvedEndOfASessionRecoveredAtStartUpShowsNothing() {
        let record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        let late = t0.adding(seconds: 3600)
        var (machine, _) = VendSessionMachine.recover(record, policy: policy, now: late)
        let effects = machine.handle(.cancelAnswered(.failed("connection refused")), now: late)
        #expect(effects.finishedState == .unresolved)
        #expect(effects.screens.isEmpty)
    }

    @Test func aPaidSessionNeverEndsUnresolved() {
        var driver = Driver.invoiced()
        driver.send(.controllerGone(reason: "HELLO"))
        driver.send(.statusPolled(.paid))
        driver.advance(3600)
        driver.fire(.claimGrace)
        #expect(driver.state == .refundDue)
    }
}

@Suite("Vend session: no DISPENSE after the machine's own timeout")
struct LateDispenseTests {
    static let strict = SessionPolicy(
        paymentTimeout: .seconds(90), resumeGrace: .seconds(15), retryMax: .seconds(8), machineTimeout: .seconds(60),
        machineTimeoutMargin: .seconds(5), dispenseMargin: .seconds(2))

    func invoiced() -> Driver {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: Self.strict))
        driver.send(.start)
        driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        return driver
    }

    @Test func aPaymentConfirmedAfterTheMachineGaveUpIsRefundDueNotDispensed() {
        var driver = invoiced()
        driver.advance(55)
        driver.fire(.paymentDeadline)  // the QR comes down at 60 - 5 s
        driver.send(.cancelAnswered(.alreadyPaid))
        driver.advance(4)  // the re-check answers at 59 s: past 60 - 2 s
        let paid = driver.send(.statusRechecked(.paid))
        #expect(paid.dispenseCount == 0)
        #expect(paid.finishedState == .refundDue)
        #expect(paid.denies == [.timeout])
    }

    @Test func aPaymentConfirmedBeforeTheMarginDispenses() {
        var driver = invoiced()
        driver.advance(55)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.alreadyPaid))
        driver.advance(2)  // 57 s: a DISPENSE still arrives before 60 s
        #expect(driver.send(.statusRechecked(.paid)).dispenseCount == 1)
    }
}

@Suite("Vend session: a DISPENSE line written in part")
struct PartialDispenseTests {
    @Test func aDispenseOfWhichSomeBytesLeftIsDispenseUnknown() {
        var driver = Driver.invoiced()
        driver.send(.statusPolled(.paid))
        let effects = driver.send(.dispenseSendIncomplete("stopped after 4 of 20 bytes"))
        #expect(effects.finishedState == .dispenseUnknown)
        #expect(driver.all.dispenseCount == 1)
    }
}

@Suite("Vend session: a created invoice whose answer is not usable")
struct UnusableCreateTests {
    @Test func itIsJournaledCancelledByItsReferenceAndTheVendDenied() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let effects = driver.send(
            .invoiceCreateFailed(.unusable(reference: InvoiceReference("ref-9"), message: "provider_invoice_id null")))
        #expect(effects.persistedStates == [.invoiced])
        #expect(effects.denies == [.error])
        #expect(effects.contains(.cancelInvoice(InvoiceReference("ref-9"))))
        #expect(driver.machine.record.reference == InvoiceReference("ref-9"))
        #expect(driver.machine.record.qrPayload == nil)
        driver.send(.cancelAnswered(.alreadyPaid))
        let paid = driver.send(.statusRechecked(.paid))
        #expect(paid.dispenseCount == 0)
        #expect(paid.finishedState == .refundDue)
    }
}

@Suite("Vend coordinator: a DISPENSE write that fails")
struct DispenseWriteFailureTests {
    @Test(arguments: [(true, SessionState.dispenseUnknown), (false, SessionState.refundDue)], StoreKind.allCases)
    func someBytesOutIsDispenseUnknownNoneIsRefundDue(
        part: (someBytesLeft: Bool, expected: SessionState), store: StoreKind
    ) async {
        let (someBytesLeft, expected) = part
        await withHarness(store: store) { h in
            h.controller.dispenseFailure.write { $0 = PartWrite(someBytesLeft: someBytesLeft) }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(vendID("v1"))] })
            h.invoices.state.write { $0.status = .success(.paid) }
            #expect(await h.drive(step: .milliseconds(100)) { h.store.record("T-1")?.state.isFinal == true })
            #expect(h.store.record("T-1")?.state == expected)
            #expect(h.controller.dispenseCount == 1)
        }
    }
}

extension Date {
    fileprivate func adding(seconds: TimeInterval) -> Date { addingTimeInterval(seconds) }
}
