import Foundation
import KioskCore
import KioskTestSupport
import Testing
import VendSession

// Issue 14: a failing journal, a slow API and ABORT while a call is in flight.

@Suite("Vend session: ABORT releases the controller at once in every state")
struct AbortReleaseTests {
    @Test func abortWhileTheInvoiceIsBeingCreatedIsDeniedAtOnceAndTheLateInvoiceCancelled() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        let abort = driver.send(.controllerAborted)
        #expect(abort.commands == [.deny(vendID("v1"), .aborted)])
        #expect(driver.machine.controllerWaiting == false)
        let created = driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        #expect(created.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(created.commands.isEmpty, "no ACCEPT for an aborted vend")
        driver.send(.cancelAnswered(.cancelled))
        let end = driver.send(.statusRechecked(.cancelled))
        #expect(end.finishedState == .cancelled)
        #expect(driver.all.commands == [.deny(vendID("v1"), .aborted)], "exactly one DENY")
    }

    @Test func abortWhileTheLostCreateIsLookedUpIsDeniedAtOnce() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(), policy: policy))
        driver.send(.start)
        driver.send(.invoiceCreateFailed(.outcomeUnknown(message: "timeout")))
        #expect(driver.send(.controllerAborted).commands == [.deny(vendID("v1"), .aborted)])
        let found = driver.send(.invoiceFound(invoice(), qrPayload: "pay:ref-1"))
        #expect(found.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(found.commands.isEmpty)
    }

    @Test func abortWhileATimeoutCancelIsInFlightIsDeniedAtOnceAndALatePaymentIsRefundDue() {
        var driver = Driver.invoiced()
        driver.fire(.paymentDeadline)
        #expect(driver.send(.controllerAborted).commands == [.deny(vendID("v1"), .aborted)])
        driver.send(.cancelAnswered(.alreadyPaid))
        let end = driver.send(.statusRechecked(.paid))
        #expect(end.finishedState == .refundDue)
        #expect(driver.all.dispenseCount == 0)
        #expect(driver.all.denies == [.aborted])
    }
}

@Suite("Vend session: the payment deadline is anchored at the VEND and bounded by the machine's timeout")
struct PaymentBudgetTests {
    @Test func aSlowCreateShortensTheQRInsteadOfPushingTheDeadline() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(at: t0), policy: policy), now: t0)
        driver.send(.start)
        driver.advance(20)  // create retries, a lookup, a rate-limit wait
        let created = driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        #expect(driver.machine.record.paymentDeadline == t0.addingTimeInterval(90))
        #expect(
            created.screens.contains(
                .pay(qrPayload: "pay:ref-1", product: "Soda", price: cents(150), deadline: t0.addingTimeInterval(90))))
    }

    @Test func theMachineTimeoutMinusTheMarginBoundsTheDeadline() {
        var bounded = policy
        bounded.machineTimeout = .seconds(60)
        bounded.machineTimeoutMargin = .seconds(5)
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(at: t0), policy: bounded), now: t0)
        driver.send(.start)
        driver.advance(1)
        driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        #expect(driver.machine.record.paymentDeadline == t0.addingTimeInterval(55))
        #expect(driver.machine.timers[.paymentDeadline] == t0.addingTimeInterval(55))
    }

    @Test func aCreateStillRunningAtTheOfferDeadlineIsDeniedThenItsInvoiceCancelled() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(at: t0), policy: policy), now: t0)
        let start = driver.send(.start)
        #expect(start.contains(timer: .offerDeadline))
        #expect(driver.machine.timers[.offerDeadline] == t0.addingTimeInterval(75), "90 s window minus 15 s to pay")
        let fired = driver.fire(.offerDeadline)
        #expect(fired.commands == [.deny(vendID("v1"), .unavailable)])
        driver.advance(30)
        let created = driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        #expect(created.commands.isEmpty, "no ACCEPT after the controller was released")
        #expect(created.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        #expect(!created.screens.contains { if case .pay = $0 { return true } else { return false } })
    }

    @Test func anInvoiceAnsweredAfterTheOfferDeadlineIsNotOffered() {
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(at: t0), policy: policy), now: t0)
        driver.send(.start)
        driver.advance(80)  // the answer beat the timer's delivery
        let created = driver.send(.invoiceCreated(invoice(), qrPayload: "pay:ref-1"))
        #expect(created.commands == [.deny(vendID("v1"), .unavailable)])
        #expect(created.contains(.cancelInvoice(InvoiceReference("ref-1"))))
    }

    @Test func aWindowTooShortForAnyCreateIsDeniedAtOnceWithoutAnInvoice() {
        var bounded = policy
        bounded.machineTimeout = .seconds(5)
        bounded.machineTimeoutMargin = .seconds(5)
        var driver = Driver(machine: VendSessionMachine(newSession: newRecord(at: t0), policy: bounded), now: t0)
        let start = driver.send(.start)
        #expect(!start.contains(.createInvoice))
        #expect(start.commands == [.deny(vendID("v1"), .unavailable)])
        #expect(start.finishedState == .failed)
    }
}

@Suite("Vend coordinator: a journal that cannot be written")
struct JournalFailureTests {
    let v1 = vendID("v1")

    @Test(arguments: StoreKind.allCases) func theControllerGetsItsDenyWhenTheSessionsLastWriteFails(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.store.state.write { $0.failUpdatesTo = .cancelled }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            #expect(await h.drive(step: .seconds(1), maxSteps: 200) { h.controller.commands.count >= 2 })
            #expect(Array(h.controller.commands.prefix(2)) == [.accept(v1), .deny(v1, .timeout)])
            #expect(await eventually { h.outcomes.get.count == 1 })
            guard case .parked(let reason) = h.outcomes.get.first?.ending else {
                Issue.record("the session was not parked: \(h.outcomes.get)")
                return
            }
            #expect(reason.contains("cancelled"), "the outcome names the write that was lost: \(reason)")
        }
    }

    @Test(arguments: StoreKind.allCases) func theControllerGetsItsDenyWhenTheFailedCreatesWriteFails(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.store.state.write { s in
                s.failUpdatesTo = .failed
            }
            h.invoices.state.write { $0.create = .failure(.unavailable(message: "503")) }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands.contains(.deny(v1, .unavailable)) })
        }
    }

    @Test(arguments: StoreKind.allCases) func anUnwritableJournalPutsTheKioskOutOfServiceUntilAWriteSucceedsAgain(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            h.store.state.write { $0.readOnly = true }
            await h.coordinator.handle(.vendAborted(v1))
            #expect(
                await eventually {
                    h.controller.commands.contains(.outOfService(reason: "journal unwritable"))
                        && h.controller.commands.contains(.deny(v1, .aborted))
                })
            #expect(await eventually { h.health.get.count == 1 })
            guard case .unwritable(let detail) = h.health.get.first else {
                Issue.record("no unwritable report: \(h.health.get)")
                return
            }
            #expect(detail.contains("EROFS"), "the OS error is named: \(detail)")
            #expect(await h.coordinator.journalWritable() == false)

            // A new customer is denied while the journal cannot be written; no invoice is created.
            await h.coordinator.handle(.vendRequested(request("v2")))
            #expect(await eventually { h.controller.commands.last == .deny(vendID("v2"), .unavailable) })
            #expect(h.invoices.state.read(\.creates) == 1)
            // Probing with back-off meanwhile, reported once.
            await h.idle(steps: 20, step: .seconds(1))
            #expect(h.store.state.read(\.probes) >= 2)
            #expect(h.health.get.count == 1, "reported once per episode")
            // Once the vend's result screen has been up, the screen says out of service.
            #expect(h.screen.shown.get.last == .outOfService(reason: "journal unwritable"), "\(h.screen.shown.get)")

            h.store.state.write { $0.readOnly = false }
            #expect(await h.drive(step: .seconds(1), maxSteps: 60) { h.controller.commands.last == .ready })
            #expect(h.health.get.last == .writable)
            #expect(await h.coordinator.journalWritable())
            // The parked session is settled from the journal: its invoice is cancelled.
            #expect(await h.drive(step: .seconds(1), maxSteps: 120) { h.store.record("T-1")?.state == .cancelled })
            await h.coordinator.handle(.vendRequested(request("v3")))
            #expect(
                await eventually { h.controller.commands.contains(.accept(vendID("v3"))) }, "\(h.controller.commands)")
        }
    }

    @Test(arguments: StoreKind.allCases) func theServiceGateCannotBringTheKioskBackWhileTheJournalIsUnwritable(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.store.state.write { $0.readOnly = true }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands.contains(.outOfService(reason: "journal unwritable")) })
            await h.coordinator.setService(.outOfService(.api, reason: "API unreachable"))
            await h.coordinator.setService(.inService)
            await h.coordinator.handle(.hello(name: "vmc", version: "1"))
            #expect(await eventually { h.controller.commands.last == .outOfService(reason: "journal unwritable") })
            #expect(!h.controller.commands.contains(.ready))
        }
    }

    /// The gate's re-announcement when the link reopens goes through the coordinator too: with
    /// the journal unwritable the controller hears OUT-OF-SERVICE again, never READY (issue 24).
    @Test(arguments: StoreKind.allCases) func aReannouncedInServiceStateIsNotReadyWhileTheJournalIsUnwritable(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.store.state.write { $0.readOnly = true }
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands.contains(.outOfService(reason: "journal unwritable")) })
            let before = h.controller.commands.filter { $0 == .outOfService(reason: "journal unwritable") }.count
            await h.coordinator.setService(.inService, reannounce: true)
            #expect(
                await eventually {
                    h.controller.commands.filter { $0 == .outOfService(reason: "journal unwritable") }.count == before
                        + 1
                }, "\(h.controller.commands)")
            #expect(!h.controller.commands.contains(.ready), "\(h.controller.commands)")
        }
    }

    /// With nothing wrong, a re-announcement repeats READY to the controller (it may have
    /// restarted) and leaves the screen alone.
    @Test(arguments: StoreKind.allCases) func aReannouncedStateIsSentAgainWithoutRedrawingTheScreen(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.setService(.inService, reannounce: true)
            await h.coordinator.setService(.inService, reannounce: true)
            #expect(await eventually { h.controller.commands == [.ready, .ready] }, "\(h.controller.commands)")
            await h.coordinator.setService(.inService)
            #expect(h.screen.shown.get.isEmpty, "\(h.screen.shown.get)")
        }
    }
}

@Suite("Vend coordinator: a slow create does not hold the controller")
struct SlowCreateTests {
    let v1 = vendID("v1")

    @Test(arguments: StoreKind.allCases) func abortDuringASlowCreateReleasesTheControllerAndTheNextCustomerIsServed(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.invoices.holdCreates()
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.invoices.createsWaiting == 1 })
            await h.coordinator.handle(.vendAborted(v1))
            #expect(await eventually { h.controller.commands == [.deny(v1, .aborted)] })
            // The next customer is not denied `unavailable` while the first create still hangs.
            await h.coordinator.handle(.vendRequested(request("v2")))
            #expect(await eventually { h.invoices.createsWaiting == 2 })
            h.invoices.releaseCreates()
            #expect(await eventually { h.controller.commands.contains(.accept(vendID("v2"))) })
            #expect(!h.controller.commands.contains(.accept(v1)))
            #expect(await h.drive(step: .milliseconds(100)) { h.store.record("T-1")?.state == .cancelled })
            #expect(h.invoices.state.read(\.cancels) >= 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func aCreateSlowerThanTheOfferBudgetIsDeniedAtTheBudgetNotWhenItAnswers(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            h.invoices.holdCreates()
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.invoices.createsWaiting == 1 })
            #expect(await h.drive(step: .seconds(1), maxSteps: 100) { !h.controller.commands.isEmpty })
            #expect(h.controller.commands == [.deny(v1, .unavailable)])
            let at = h.clock.wallNow()
            #expect(at >= t0.addingTimeInterval(75) && at <= t0.addingTimeInterval(77))
            h.invoices.releaseCreates()
            #expect(await h.drive(step: .milliseconds(100)) { h.store.record("T-1")?.state == .cancelled })
            #expect(!h.controller.commands.contains(.accept(v1)))
        }
    }
}

@Suite("Vend coordinator: shutdown with a controller that cannot re-claim")
struct ShutdownAbandonTests {
    let v1 = vendID("v1")

    @Test(arguments: StoreKind.allCases) func anInvoiceAwaitingPaymentIsCancelledAndRecheckedAndTheControllerReleased(
        store: StoreKind
    ) async {
        await withHarness(store: store) { h in
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.controller.commands == [.accept(v1)] })
            let abandoned = await h.coordinator.abandonUnclaimable()
            #expect(abandoned == [h.store.tradeNo("T-1")])
            #expect(await eventually { h.store.record("T-1")?.state == .cancelled })
            #expect(h.invoices.state.read(\.cancels) == 1)
            #expect(h.controller.commands == [.accept(v1), .deny(v1, .unavailable)])
            await h.coordinator.showFinalScreen(.outOfService(reason: "shutting down"))
            #expect(await eventually { h.screen.shown.get.last == .outOfService(reason: "shutting down") })
        }
    }

    @Test func aPaymentThatWonTheRaceBecomesRefundDueNeverADispense() {
        var driver = Driver.invoiced()
        var machine = driver.machine
        let abandon = machine.abandonForShutdown(now: driver.now)
        driver.machine = machine
        #expect(abandon.commands == [.deny(v1, .unavailable)])
        #expect(abandon.contains(.cancelInvoice(InvoiceReference("ref-1"))))
        driver.send(.cancelAnswered(.alreadyPaid))
        let end = driver.send(.statusRechecked(.paid))
        #expect(end.finishedState == .refundDue)
        #expect(driver.all.dispenseCount == 0)
    }

    @Test(arguments: StoreKind.allCases) func aSessionStillCreatingIsLeftToRecovery(store: StoreKind) async {
        await withHarness(store: store) { h in
            h.invoices.holdCreates()
            await h.coordinator.handle(.vendRequested(request()))
            #expect(await eventually { h.invoices.createsWaiting == 1 })
            #expect(await h.coordinator.abandonUnclaimable().isEmpty)
            h.invoices.releaseCreates()
        }
    }
}
