import Foundation
import KioskCore
import Testing
import VendSession

/// Issue 22, "a soft-deleted invoice that is still payable": DripPay answers 404 for an invoice
/// once cancelled (soft delete), but the provider may still take a payment of the quote the
/// customer holds. A 404 after our own cancel counts as cancelled for the controller; the
/// session re-reads the status for `latePaymentWatch` before it ends, so a late payment is
/// never lost.
@Suite("Vend session: the late-payment watch after a cancel confirmed by 404")
struct LatePaymentWatchTests {
    static let watching = SessionPolicy(
        paymentTimeout: .seconds(90), resumeGrace: .seconds(15), retryInitial: .seconds(1), retryMax: .seconds(8),
        machineTimeout: .seconds(120), latePaymentWatch: .seconds(10))

    /// A vend whose payment deadline passed (90 s after its invoice) and whose DELETE answered.
    func cancelAnswered() -> Driver {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: Self.watching))
        driver.send(.start)
        driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        driver.advance(90)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.cancelled))
        return driver
    }

    /// A vend whose payment deadline passed, whose cancel answered and whose re-check said 404.
    func cancelledBy404() -> (Driver, [SessionEffect]) {
        var driver = cancelAnswered()
        let effects = driver.send(.invoiceGone)
        return (driver, effects)
    }

    /// Fires the watch's reads, answering each with `answer`, until the session ends or `limit`.
    static func watchReads(_ driver: inout Driver, answer: SessionEvent, limit: Int = 50) -> Int {
        var reads = 0
        while driver.machine.isOpen, reads < limit, driver.machine.timers[.retry] != nil {
            let fired = driver.fire(.retry)
            guard fired.contains(.watchStatus(InvoiceReference("ref-1"))) else { break }
            reads += 1
            driver.send(answer)
        }
        return reads
    }

    @Test func theControllerIsReleasedAtThe404AndTheSessionStaysOpenForTheWatch() {
        let (driver, effects) = cancelledBy404()
        #expect(effects.denies == [.timeout], "a 404 after our cancel counts as cancelled: DENY at once")
        #expect(effects.finishedState == nil)
        #expect(effects.persistedStates.isEmpty, "still invoiced in the journal")
        #expect(driver.machine.phase == .watching)
        #expect(driver.machine.watchUntil == driver.now.addingTimeInterval(10))
    }

    @Test func aWatchThatSeesOnly404EndsCancelledAtItsEndAfterAFewReads() {
        var (driver, _) = cancelledBy404()
        let start = driver.now
        let reads = Self.watchReads(&driver, answer: .invoiceGone)
        #expect(driver.state == .cancelled)
        #expect(driver.machine.record.note?.contains("late-payment watch") == true)
        #expect(reads == 4, "reads at 1, 3, 7 and 10 s")
        #expect(driver.now == start.addingTimeInterval(10))
        #expect(driver.all.denies == [.timeout], "one DENY in all")
    }

    @Test func aPaymentReadDuringTheWatchIsRefundDueNeverLost() {
        var (driver, _) = cancelledBy404()
        driver.fire(.retry)
        driver.send(.invoiceGone)
        driver.fire(.retry)
        let paid = driver.send(.statusRechecked(.paid))
        #expect(paid.finishedState == .refundDue)
        #expect(paid.dispenseCount == 0, "the controller was told the vend is over")
        #expect(paid.screens.contains(.refundDue(tradeNo: TradeNo("T-1"))))
        #expect(driver.machine.record.paidAt != nil)
    }

    @Test func aPaidPollAnswerArrivingDuringTheWatchIsAPaymentToo() {
        var (driver, _) = cancelledBy404()
        let paid = driver.send(.statusPolled(.paid))
        #expect(paid.finishedState == .refundDue)
    }

    @Test func aPendingPollAnswerDuringTheWatchChangesNothing() {
        var (driver, _) = cancelledBy404()
        #expect(driver.send(.statusPolled(.pending)).isEmpty)
        #expect(driver.machine.phase == .watching)
    }

    @Test func aStatusThatKeepsAnsweringPendingAfterThe404IsCancelledAgainAndEndsWithinTheBudget() {
        var (driver, _) = cancelledBy404()
        var rounds = 0
        while driver.machine.isOpen, rounds < 40 {
            rounds += 1
            let fired = driver.fire(.retry)
            if fired.contains(.watchStatus(InvoiceReference("ref-1"))) {
                driver.send(.statusRechecked(.pending))
            } else if fired.contains(.cancelInvoice(InvoiceReference("ref-1"))) {
                driver.send(.cancelAnswered(.cancelled))
                driver.send(.invoiceGone)
            } else {
                break
            }
        }
        #expect(driver.state == .unresolved, "the settling budget ends it: \(rounds) rounds")
        #expect(rounds <= 2 * (Self.watching.settleRetries + 1))
    }

    @Test func aFailedReadAtTheWatchsEndIsRetriedWithinTheSettlingBudget() {
        var (driver, _) = cancelledBy404()
        _ = Self.watchReads(&driver, answer: .invoiceGone, limit: 3)
        driver.fire(.retry)
        let failed = driver.send(.recheckFailed("timeout"))
        #expect(failed.finishedState == nil, "past the watch, a read that failed tells nothing")
        driver.fire(.retry)
        #expect(driver.send(.invoiceGone).finishedState == .cancelled)
    }

    @Test func aVendReSentDuringTheWatchIsADuplicate() {
        var (driver, _) = cancelledBy404()
        let effects = driver.send(.controllerReclaimed(request()))
        #expect(effects.denies == [.duplicateID])
        #expect(driver.machine.phase == .watching)
    }

    @Test func withoutAWatchThe404EndsTheSessionAtOnce() {
        var driver = Driver.invoiced()
        driver.advance(90)
        driver.fire(.paymentDeadline)
        driver.send(.cancelAnswered(.cancelled))
        #expect(driver.send(.invoiceGone).finishedState == .cancelled)
    }

    @Test func anExplicitCancelledStatusNeedsNoWatch() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: Self.watching))
        driver.send(.start)
        driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        driver.send(.controllerAborted)
        driver.send(.cancelAnswered(.cancelled))
        #expect(driver.send(.statusRechecked(.cancelled)).finishedState == .cancelled)
    }

    @Test func aSessionRecoveredPastItsSettlingTimeWatchesForOneReadOnly() {
        var record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        record.createdAt = t0
        let late = t0.addingTimeInterval(3600)
        var (machine, _) = VendSessionMachine.recover(record, policy: Self.watching, now: late)
        var driver = Driver(machine: machine, now: late)
        driver.send(.cancelAnswered(.cancelled))
        driver.send(.invoiceGone)
        machine = driver.machine
        #expect(machine.watchUntil == late)
        driver.fire(.retry)
        #expect(driver.send(.invoiceGone).finishedState == .cancelled)
    }

    /// Our DELETE answered (soft delete) and the customer paid the quote before the re-check read.
    func paidBeforeTheReCheck(after seconds: TimeInterval) -> [SessionEffect] {
        var driver = cancelAnswered()
        driver.advance(seconds)
        return driver.send(.statusRechecked(.paid))
    }

    @Test func aSoftDeletedInvoicePaidBeforeTheReCheckDispensesWhileTheMachineWaits() {
        let effects = paidBeforeTheReCheck(after: 1)
        #expect(effects.dispenseCount == 1, "the controller was not released yet, 91 s of its 120 s")
    }

    @Test func aSoftDeletedInvoicePaidBeforeTheReCheckButPastTheMachinesTimeoutIsRefundDue() {
        let effects = paidBeforeTheReCheck(after: 29)  // 119 s: past 120 s less the 2 s margin
        #expect(effects.dispenseCount == 0)
        #expect(effects.finishedState == .refundDue)
        #expect(effects.denies == [.timeout])
    }
}
