import Foundation
import KioskCore
import Testing
import VendSession

/// docs/money-safety.md, "Crash recovery": one test per case.
@Suite("Vend session: crash recovery")
struct RecoveryTests {
    func recovered(_ record: SessionRecord, at now: Date = t0.addingTimeInterval(30)) -> (Driver, [SessionEffect]) {
        let (machine, effects) = VendSessionMachine.recover(record, policy: policy, now: now)
        var driver = Driver(machine: machine, now: now)
        driver.all = effects
        return (driver, effects)
    }

    @Test func requestedLooksTheTradeNoUp() {
        let (_, effects) = recovered(newRecord())
        #expect(effects.contains(.lookupInvoice(TradeNo("T-1"))))
        #expect(!effects.contains(.createInvoice))
        #expect(effects.commands.isEmpty)
    }

    @Test func requestedAndNotFoundFails() {
        var (driver, _) = recovered(newRecord())
        let effects = driver.send(.invoiceNotFound)
        #expect(effects.finishedState == .failed)
        #expect(effects.commands.isEmpty, "nobody waits for it")
        #expect(driver.machine.record.note == "no invoice was created for this trade_no")
    }

    @Test func requestedAndFoundPendingIsCancelledWhenNobodyClaimsIt() {
        var (driver, _) = recovered(newRecord())
        let found = driver.send(.invoiceFound(invoice(), qrPayload: "pay:ref-1"))
        #expect(found.persistedStates == [.invoiced])
        #expect(found.commands.isEmpty)
        let grace = driver.fire(.claimGrace)
        #expect(grace.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        driver.send(.cancelAnswered(.cancelled))
        #expect(driver.send(.statusRechecked(.cancelled)).finishedState == .cancelled)
    }

    @Test func requestedAndFoundPaidIsRefundDueWhenNobodyClaimsIt() {
        var (driver, _) = recovered(newRecord())
        let found = driver.send(.invoiceFound(invoice(status: .paid), qrPayload: "pay:ref-1"))
        #expect(found.persistedStates == [.paid])
        #expect(driver.fire(.claimGrace).finishedState == .refundDue)
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func requestedAndFoundPaidDispensesWhenReclaimedWithinTheGrace() throws {
        var (driver, _) = recovered(newRecord())
        driver.send(.invoiceFound(invoice(status: .paid), qrPayload: "pay:ref-1"))
        let claim = driver.send(.controllerReclaimed(request()))
        let dispensing = try #require(claim.firstIndex(persisting: .dispensing))
        #expect(dispensing < (claim.dispenseIndex ?? -1))
    }

    @Test func invoicedKeepsPollingAndResumesTheSameInvoiceWhenReclaimed() {
        let record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        var (driver, effects) = recovered(record)
        #expect(effects.contains(.startPolling(InvoiceReference("ref-1"))))
        #expect(effects.commands.isEmpty)
        let claim = driver.send(.controllerReclaimed(request()))
        #expect(claim.commands == [.accept(vendID("v1"))])
        #expect(
            claim.screens.first
                == .pay(qrPayload: "pay:ref-1", product: "Soda", price: cents(150), deadline: t0.addingTimeInterval(90))
        )
        #expect(!driver.all.contains(.createInvoice))
        driver.send(.statusPolled(.paid))
        #expect(driver.all.dispenseCount == 1)
    }

    @Test func invoicedUnclaimedIsCancelledAfterTheGrace() {
        var (driver, _) = recovered(invoicedRecord(deadline: t0.addingTimeInterval(90)))
        #expect(driver.machine.timers[.claimGrace] == driver.now.addingTimeInterval(15))
        let grace = driver.fire(.claimGrace)
        #expect(grace.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.cancelled))
        #expect(end.finishedState == .cancelled)
        #expect(end.commands.isEmpty)
    }

    @Test func invoicedUnclaimedWhosePaymentWonTheCancelRaceIsRefundDue() {
        var (driver, _) = recovered(invoicedRecord(deadline: t0.addingTimeInterval(90)))
        driver.fire(.claimGrace)
        driver.send(.cancelAnswered(.alreadyPaid))
        let end = driver.send(.statusRechecked(.paid))
        #expect(end.finishedState == .refundDue)
        #expect(driver.all.dispenseCount == 0)
    }

    @Test func invoicedPastItsDeadlineIsCancelledAtOnce() {
        let (_, effects) = recovered(invoicedRecord(deadline: t0.addingTimeInterval(20)))
        #expect(effects.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(!effects.contains(.startPolling(InvoiceReference("ref-1"))))
    }

    @Test func invoicedWithTheDeadlineBeforeTheGraceEndsAtTheDeadline() {
        let (driver, _) = recovered(invoicedRecord(deadline: t0.addingTimeInterval(35)))
        #expect(driver.machine.timers[.claimGrace] == t0.addingTimeInterval(35))
    }

    @Test func paidDispensesWhenReclaimedAndJournalsDispensingFirst() throws {
        var record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        record.state = .paid
        var (driver, effects) = recovered(record)
        #expect(effects.dispenseCount == 0)
        let claim = driver.send(.controllerReclaimed(request()))
        let dispensing = try #require(claim.firstIndex(persisting: .dispensing))
        #expect(dispensing < (claim.dispenseIndex ?? -1))
        #expect(claim.dispenseCount == 1)
    }

    @Test func paidUnclaimedIsRefundDue() {
        var record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        record.state = .paid
        var (driver, _) = recovered(record)
        let grace = driver.fire(.claimGrace)
        #expect(grace.finishedState == .refundDue)
        #expect(driver.machine.record.note?.contains("did not re-claim") == true)
    }

    @Test func dispensingIsDispenseUnknownAndAReclaimIsDeniedAsDuplicate() {
        var record = invoicedRecord(deadline: t0.addingTimeInterval(90))
        record.state = .dispensing
        var (driver, effects) = recovered(record)
        #expect(effects.finishedState == .dispenseUnknown)
        #expect(effects.persistedStates == [.dispenseUnknown])
        let claim = driver.send(.controllerReclaimed(request()))
        #expect(claim == [.send(.deny(vendID("v1"), .duplicateID))])
        #expect(driver.all.dispenseCount == 0)
    }
}
