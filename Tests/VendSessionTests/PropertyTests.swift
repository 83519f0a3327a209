import Foundation
import KioskCore
import KioskTestSupport
import Testing
import VendSession

@Suite("Vend session: money-safety properties over random event sequences")
struct PropertyTests {
    static let events: [SessionEvent] = [
        .start,
        .invoiceCreated(invoice(), qrPayload: "pay:ref-1"),
        .invoiceCreated(invoice(total: 1), qrPayload: "pay:ref-1"),
        .invoiceCreateFailed(.rejected(message: "422", requestInvalid: true)),
        .invoiceCreateFailed(.unavailable(message: "down")),
        .invoiceCreateFailed(.outcomeUnknown(message: "lost")),
        .invoiceFound(invoice(), qrPayload: "pay:ref-1"),
        .invoiceFound(invoice(status: .paid), qrPayload: "pay:ref-1"),
        .invoiceFound(invoice(status: .cancelled), qrPayload: "pay:ref-1"),
        .invoiceNotFound,
        .lookupFailed("down"),
        .statusPolled(.pending), .statusPolled(.paid), .statusPolled(.paid), .statusPolled(.cancelled),
        .statusPolled(.notPayable("weird")),
        .pollFailed("down"), .invoiceGone,
        .statusRechecked(.pending), .statusRechecked(.paid), .statusRechecked(.cancelled),
        .statusRechecked(.notPayable("expired")), .recheckFailed("down"),
        .timerFired(.paymentDeadline), .timerFired(.claimGrace), .timerFired(.retry),
        .controllerAborted, .controllerDispensed, .controllerDispenseFailed(reason: "jam"),
        .controllerGone(reason: "HELLO"), .controllerReclaimed(request()), .controllerReclaimed(request(price: 99)),
        .cancelAnswered(.cancelled), .cancelAnswered(.alreadyPaid), .cancelAnswered(.failed("down")),
        .cancelAnswered(.notPayable("expired")),
        .dispenseSent, .dispenseSendFailed("EIO"), .dispenseSendIncomplete("EAGAIN after 3 bytes"),
    ]

    static func startingMachine(_ choice: Int, now: Date) -> VendSessionMachine {
        let deadline = t0.addingTimeInterval(90)
        switch choice {
        case 0: return VendSessionMachine(newSession: newRecord(), policy: policy)
        case 1: return VendSessionMachine.recover(newRecord(), policy: policy, now: now).machine
        case 2: return VendSessionMachine.recover(invoicedRecord(deadline: deadline), policy: policy, now: now).machine
        case 3:
            var record = invoicedRecord(deadline: deadline)
            record.state = .paid
            return VendSessionMachine.recover(record, policy: policy, now: now).machine
        default:
            var record = invoicedRecord(deadline: deadline)
            record.state = .dispensing
            return VendSessionMachine.recover(record, policy: policy, now: now).machine
        }
    }

    /// Answers from a world that finally cooperates (API reachable, controller gone): each is
    /// ignored unless the session waits for it. Used to check that every session ends.
    static let settling: [SessionEvent] = [
        .invoiceCreateFailed(.unavailable(message: "down")), .invoiceNotFound, .cancelAnswered(.cancelled),
        .statusPolled(.cancelled), .statusRechecked(.cancelled),
    ]

    @Test func atMostOneDispenseOnlyAfterPaidAndPaidSessionsNeverForgotten() {
        var rng = SplitMix64(seed: 0xD21B_9A7)
        var reachedPaid = 0
        var reachedDispensing = 0
        var reachedRefundDue = 0
        var reachedCancelled = 0
        for sequence in 0..<5000 {
            let startChoice = Int.random(in: 0..<5, using: &rng)
            var now = t0
            var machine = Self.startingMachine(startChoice, now: now)
            var dispenses = 0
            var sawPaidStatus = startChoice == 3  // a recovered `paid` record was paid before the crash
            var finalRecord: SessionRecord? = machine.record.state.isFinal ? machine.record : nil
            var lastPersisted: SessionState?
            // A DENY for the vend releases the controller; only a later VEND (re-claim) may be
            // answered with DISPENSE.
            var deniedSinceLastVend = false
            let length = Int.random(in: 1..<40, using: &rng)
            for _ in 0..<length {
                now = now.addingTimeInterval(Double(Int.random(in: 0..<20, using: &rng)))
                let event = Self.events.randomElement(using: &rng)!
                if event == .statusPolled(.paid) || event == .statusRechecked(.paid)
                    || event == .invoiceFound(invoice(status: .paid), qrPayload: "pay:ref-1")
                {
                    sawPaidStatus = true
                }
                if event == .controllerReclaimed(request()) { deniedSinceLastVend = false }
                let effects = machine.handle(event, now: now)
                if effects.persistedStates.contains(.paid) { reachedPaid += 1 }
                if effects.persistedStates.contains(.dispensing) { reachedDispensing += 1 }
                for (index, effect) in effects.enumerated() {
                    if case .commit(let steps) = effect, let last = steps.last { lastPersisted = last.record.state }
                    if case .send(.deny) = effect { deniedSinceLastVend = true }
                    if case .send(.dispense) = effect {
                        dispenses += 1
                        #expect(!deniedSinceLastVend, "DISPENSE after DENY for the same VEND (sequence \(sequence))")
                        #expect(sawPaidStatus, "dispense without a paid status (sequence \(sequence))")
                        #expect(lastPersisted == .dispensing, "dispense not journaled first (sequence \(sequence))")
                        #expect(index > 0)
                    }
                }
                if let finalRecord {
                    #expect(machine.record == finalRecord, "a final state changed (sequence \(sequence))")
                } else if machine.record.state.isFinal {
                    finalRecord = machine.record
                }
            }
            #expect(dispenses <= 1, "more than one dispense (sequence \(sequence))")
            // Let every timer run out and the controller go: a paid session must settle as one of
            // the paid outcomes and never anything else.
            for _ in 0..<6 {
                now = now.addingTimeInterval(3600)
                dispenses += machine.handle(.controllerGone(reason: "end"), now: now).dispenseCount
                for timer in SessionTimer.allCases {
                    dispenses += machine.handle(.timerFired(timer), now: now).dispenseCount
                }
                dispenses += machine.handle(.controllerReclaimed(request()), now: now).dispenseCount
                for answer in Self.settling { dispenses += machine.handle(answer, now: now).dispenseCount }
            }
            #expect(!machine.isOpen, "session never ended: \(machine.phase) (sequence \(sequence))")
            if machine.record.state == .refundDue { reachedRefundDue += 1 }
            if machine.record.state == .cancelled { reachedCancelled += 1 }
            #expect(dispenses <= 1, "more than one dispense after the sequence (sequence \(sequence))")
            if let finalRecord {
                #expect(machine.record == finalRecord, "a final state changed (sequence \(sequence))")
            }
            if machine.record.paidAt != nil || startChoice >= 3 {
                let state = machine.record.state
                #expect(
                    [.dispensed, .refundDue, .dispenseUnknown].contains(state),
                    "paid session ended \(state) (sequence \(sequence))")
            }
        }
        // The generator must reach the states the rules are about, not only the early exits.
        print(
            "property reach of 5000: paid \(reachedPaid), dispensing \(reachedDispensing), "
                + "refund_due \(reachedRefundDue), cancelled \(reachedCancelled)")
        #expect(reachedPaid >= 500)
        #expect(reachedDispensing >= 250)
        #expect(reachedRefundDue >= 250)
        #expect(reachedCancelled >= 250)
    }

    /// An API that never settles anything answers every cancel one way and every status read one way.
    static let unhelpfulCancels: [SessionEvent] = [
        .cancelAnswered(.failed("down")), .cancelAnswered(.alreadyPaid), .cancelAnswered(.cancelled),
    ]
    /// The answer to every status re-check (a re-check that hangs ends as `recheckFailed` at
    /// the request timeout).
    static let unhelpfulStatuses: [SessionEvent] = [
        .recheckFailed("down"), .statusRechecked(.pending), .statusRechecked(.notPayable("expired")),
    ]
    /// Poll answers meanwhile, possibly older than the cancel: never the re-check.
    static let unhelpfulPolls: [SessionEvent] = [
        .pollFailed("down"), .statusPolled(.notPayable("expired")), .statusPolled(.pending),
    ]

    /// Rule 5: whatever happened before, once the payment deadline has passed the controller is
    /// never left waiting on the API (else every later VEND is denied). Only a DISPENSE that went
    /// out waits, for the controller's own DISPENSED/FAILED.
    @Test func theControllerIsNeverLeftWaitingOnAnAPIThatDoesNotSettle() {
        var rng = SplitMix64(seed: 0x5EED_0FF)
        for sequence in 0..<5000 {
            let startChoice = Int.random(in: 0..<5, using: &rng)
            var now = t0
            var machine = Self.startingMachine(startChoice, now: now)
            let cancelAnswer = Self.unhelpfulCancels.randomElement(using: &rng)!
            let statusAnswer = Self.unhelpfulStatuses.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1..<30, using: &rng) {
                now = now.addingTimeInterval(Double(Int.random(in: 0..<20, using: &rng)))
                _ = machine.handle(Self.events.randomElement(using: &rng)!, now: now)
            }
            for _ in 0..<6 {
                now = now.addingTimeInterval(3600)
                for timer in SessionTimer.allCases { _ = machine.handle(.timerFired(timer), now: now) }
                for answer in [
                    SessionEvent.invoiceCreateFailed(.outcomeUnknown(message: "lost")), .lookupFailed("down"),
                    Self.unhelpfulPolls.randomElement(using: &rng)!, cancelAnswer, statusAnswer,
                ] {
                    _ = machine.handle(answer, now: now)
                }
            }
            #expect(
                !machine.controllerWaiting || machine.phase == .dispensing,
                "controller left waiting in \(machine.phase) (sequence \(sequence))")
        }
    }

    /// Rules 1-3 across a crash: the process dies after any step, recovery starts from the last
    /// journaled record and the events go on. At most one DISPENSE in all, only after a paid
    /// status, and a session whose journal ever said paid ends dispensed, refund due or unknown.
    @Test func atMostOneDispenseAcrossACrashAtAnyStep() {
        var rng = SplitMix64(seed: 0xC4A5_11)
        var crashesAfterPaid = 0
        for sequence in 0..<5000 {
            var now = t0
            var machine = VendSessionMachine(newSession: newRecord(), policy: policy)
            var journal = machine.record
            var journaledPaid = false
            var dispenses = 0
            var sawPaidStatus = false
            let length = Int.random(in: 2..<40, using: &rng)
            let crashAt = Int.random(in: 0..<length, using: &rng)
            for step in 0..<length {
                if step == crashAt {
                    if journaledPaid { crashesAfterPaid += 1 }
                    now = now.addingTimeInterval(Double(Int.random(in: 1..<60, using: &rng)))
                    let recovered = VendSessionMachine.recover(journal, policy: policy, now: now)
                    machine = recovered.machine
                    for case .commit(let steps) in recovered.effects { journal = steps.last?.record ?? journal }
                }
                now = now.addingTimeInterval(Double(Int.random(in: 0..<20, using: &rng)))
                let event = step == 0 ? SessionEvent.start : Self.events.randomElement(using: &rng)!
                if event == .statusPolled(.paid) || event == .statusRechecked(.paid)
                    || event == .invoiceFound(invoice(status: .paid), qrPayload: "pay:ref-1")
                    || event == .invoiceFound(invoice(total: 1, status: .paid), qrPayload: "pay:ref-1")
                {
                    sawPaidStatus = true
                }
                for effect in machine.handle(event, now: now) {
                    if case .commit(let steps) = effect {
                        for step in steps {
                            journal = step.record
                            if step.record.state == .paid || step.record.state == .dispensing { journaledPaid = true }
                        }
                    }
                    if case .send(.dispense) = effect {
                        dispenses += 1
                        #expect(sawPaidStatus, "dispense without a paid status (sequence \(sequence))")
                    }
                }
            }
            for _ in 0..<6 {
                now = now.addingTimeInterval(3600)
                var effects = machine.handle(.controllerGone(reason: "end"), now: now)
                for timer in SessionTimer.allCases { effects += machine.handle(.timerFired(timer), now: now) }
                effects += machine.handle(.controllerReclaimed(request()), now: now)
                for answer in Self.settling { effects += machine.handle(answer, now: now) }
                dispenses += effects.dispenseCount
                for case .commit(let steps) in effects { journal = steps.last?.record ?? journal }
            }
            #expect(dispenses <= 1, "more than one dispense across a crash (sequence \(sequence))")
            if journaledPaid {
                #expect(
                    [.dispensed, .refundDue, .dispenseUnknown].contains(journal.state),
                    "paid session journaled \(journal.state) at the end (sequence \(sequence))")
            }
        }
        print("property crashes after a journaled payment: \(crashesAfterPaid) of 5000")
        #expect(crashesAfterPaid >= 200, "the generator must crash sessions after payment")
    }
}
