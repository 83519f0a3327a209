import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The steps the transitions are built from: cancel, retry, release, pay, dispense, persist, end.
extension VendSessionMachine {
    // MARK: Building blocks

    mutating func beginCancel(_ cause: CancelCause, now: Date) -> [SessionEffect] {
        guard let reference = record.reference else { return [] }
        cancelCause = customerAborted ? .aborted : cause
        phase = .cancelling
        retryAttempt = 0
        timers[.paymentDeadline] = nil
        timers[.claimGrace] = nil
        return [
            .stopPolling,
            .log(event: .cancelling, detail: "cause \(cancelCause?.rawValue ?? cause.rawValue)"),
            .cancelInvoice(reference),
        ]
    }

    /// The API did not answer a cancel or re-check: the controller is released now (it must not
    /// wait on the API), the session stays `invoiced` with a note, and the call is retried.
    mutating func parkForRetry(note: String, now: Date) -> [SessionEffect] {
        var effects: [SessionEffect] = []
        if record.note != note {
            record.note = note
            effects.append(transition(to: record.state, now: now, event: .cancelPending, detail: note))
        }
        let reason = cancelCause?.denyReason ?? .unavailable
        effects += releaseController(reason, screen: .cancelled(reason: reason))
        effects += retryOrGiveUp(note: note, now: now)
        return effects
    }

    /// The session by which a settling step must be done: its `created_at` (from the journal,
    /// so the same after a restart) plus `policy.settleWithin`.
    var settleBy: Date { record.createdAt.adding(policy.settleWithin) }

    /// Schedules the retry of a settling step that failed, or, once the budget is spent (more
    /// than `policy.settleRetries` retries in this run, or past `settleBy`), ends the session
    /// `unresolved` with what is known: the daemon never asks about it again; an operator does.
    mutating func retryOrGiveUp(note: String, now: Date) -> [SessionEffect] {
        settleRetries += 1
        guard settleRetries > policy.settleRetries || now >= settleBy else { return scheduleRetry(now: now) }
        let known =
            record.reference.map { "invoice \($0)" } ?? "no invoice reference known (trade_no \(record.tradeNo))"
        // The refund notice only while a customer may be at the machine: a VEND (or its re-claim)
        // came in this run; a session recovered at start-up and never re-claimed shows nothing.
        return end(
            .unresolved, now: now, event: .unresolved,
            note:
                "could not settle within \(settleRetries - 1) retries / \(policy.settleWithin) of the session's start (\(known)); last: \(note). Check it at the API",
            deny: .unavailable, screen: vendArrivedAt == nil ? nil : .unresolved(tradeNo: record.tradeNo))
    }

    // MARK: Late-payment watch (docs/money-safety.md, "API oddities")

    /// Our cancel was confirmed by a 404 (DripPay soft-deletes cancelled invoices). For the
    /// controller the vend is over now (`DENY` with the cancel's reason), as for any confirmed
    /// cancel; the session stays `invoiced` and the status is re-read until `watchUntil` (the
    /// watch, never past the settling time): a payment the provider still took is a payment.
    mutating func beginWatch(now: Date) -> [SessionEffect] {
        phase = .watching
        retryAttempt = 0
        let until = max(now, min(now.adding(policy.latePaymentWatch), settleBy))
        watchUntil = until
        let cause = cancelCause ?? .timeout
        var effects: [SessionEffect] = [
            .log(
                event: .latePaymentWatch,
                detail:
                    "cancel (\(cause.rawValue)) confirmed by 404 (soft-deleted); re-reading the status for a late payment until \(until)"
            )
        ]
        effects += releaseController(
            cause.denyReason, screen: .cancelled(reason: cause == .notPayable ? .unavailable : cause.denyReason))
        return effects + scheduleWatchRead(now: now)
    }

    /// The next read of the watch: on the retry back-off (1, 2, 4 s ...), the last one at its end.
    mutating func scheduleWatchRead(now: Date) -> [SessionEffect] {
        let until = watchUntil ?? now
        retryAttempt += 1
        return schedule(.retry, at: min(until, now.adding(policy.retryDelay(attempt: retryAttempt))))
    }

    /// One answer of the watch (`nil`: 404). `paid` is a payment (dispensed only if the controller
    /// still waits within its timeout, which a released one does not: refund due); `pending`
    /// means the cancel did not hold (the API still offers the invoice): cancelled again, within
    /// the settling budget; 404, `cancelled` or a not-payable word go on until the watch's end,
    /// where the session ends `cancelled`.
    mutating func watchRead(_ status: InvoiceStatus?, now: Date) -> [SessionEffect] {
        var effects: [SessionEffect] = []
        switch status {
        case .paid?:
            return becomePaid(now: now, source: "status paid after our cancel (the soft-deleted invoice was paid)")
        case .pending?:
            phase = .cancelling
            effects.append(.log(event: .cancelNotEffective, detail: "status pending after a cancel confirmed by 404"))
            return effects
                + parkForRetry(
                    note: "cancel not effective (\(cancelCause?.rawValue ?? "?")): status pending after a 404", now: now
                )
        case .notPayable(let word)?:
            effects += noteNotPayable(word)
        case .cancelled?, nil:
            break
        }
        guard let until = watchUntil, now < until else {
            let cause = cancelCause ?? .timeout
            return effects
                + end(
                    .cancelled, now: now, event: .cancelled,
                    note:
                        "cancelled (\(cause.rawValue)); the API answered 404 (soft-deleted) and reported no payment within the late-payment watch (\(policy.latePaymentWatch))",
                    deny: cause.denyReason)
        }
        return effects + scheduleWatchRead(now: now)
    }

    mutating func releaseController(_ reason: DenyReason, screen: ScreenIntent) -> [SessionEffect] {
        guard controllerWaiting, !denySent else { return [] }
        denySent = true
        controllerWaiting = false
        return [.send(.deny(record.vendID, customerAborted ? .aborted : reason)), .show(screen)]
    }

    mutating func scheduleRetry(now: Date) -> [SessionEffect] {
        retryAttempt += 1
        return schedule(.retry, at: now.adding(policy.retryDelay(attempt: retryAttempt)))
    }

    mutating func schedule(_ timer: SessionTimer, at date: Date) -> [SessionEffect] {
        timers[timer] = date
        return [.startTimer(timer, at: date)]
    }

    mutating func becomePaid(now: Date, source: String) -> [SessionEffect] {
        guard record.state == .invoiced || record.state == .requested else { return [] }
        record.paidAt = now
        timers[.paymentDeadline] = nil
        timers[.retry] = nil
        if invoiceMismatch {
            // Straight to refund due: a journaled `paid` would let recovery dispense against it.
            return end(
                .refundDue, now: now, event: .refundDue,
                note: "paid (\(source)), but the invoice total differs from the vend price \(record.price)",
                deny: .error, screen: .refundDue(tradeNo: record.tradeNo))
        }
        let effects: [SessionEffect] = [
            transition(to: .paid, now: now, event: .paid, detail: source),
            .stopPolling,
        ]
        return effects + decideDispense(now: now)
    }

    /// The one place that commands a dispense: journal `dispensing`, then `DISPENSE`.
    mutating func decideDispense(now: Date) -> [SessionEffect] {
        precondition(record.state == .paid, "dispense decided outside paid")
        let tooLate = pastMachineTimeout(now)
        if controllerWaiting, !denySent, !customerAborted, !dispenseCommanded, !invoiceMismatch, !tooLate {
            dispenseCommanded = true
            phase = .dispensing
            timers = [:]
            return [
                transition(to: .dispensing, now: now, event: .dispensing, detail: "dispense decided"),
                .send(.dispense(record.vendID, price: record.price)),
                .show(.paid(product: record.itemDescription)),
            ]
        }
        if !customerAborted, !denySent, !invoiceMismatch, let claim = claimDeadline, claim > now {
            phase = .awaitingClaim
            return schedule(.claimGrace, at: claim)
        }
        let why: String
        if invoiceMismatch {
            why = "paid, but the invoice total differs from the vend price \(record.price)"
        } else if tooLate {
            why =
                "paid too late: the machine gives up on the vend (controller.machine_timeout_s) before a DISPENSE could arrive"
        } else if customerAborted {
            why = "paid after the customer aborted"
        } else if denySent {
            why = "paid after the controller was told the vend is over"
        } else {
            why = "paid while no controller waits for the vend"
        }
        // A controller still waiting (mismatch, abort, too late) is answered: no sale.
        return end(
            .refundDue, now: now, event: .refundDue, note: why, deny: tooLate ? .timeout : .error,
            screen: .refundDue(tradeNo: record.tradeNo))
    }

    /// Whether a `DISPENSE` written now could reach the machine after its own timeout for the
    /// VEND it waits on (less `policy.dispenseMargin` for the journal commit and the write).
    func pastMachineTimeout(_ now: Date) -> Bool {
        guard let machine = policy.machineTimeout, let arrival = vendArrivedAt else { return false }
        return now >= arrival.adding(machine - policy.dispenseMargin)
    }

    mutating func transition(
        to state: SessionState, now: Date, event: JournalEventKind, detail: String
    )
        -> SessionEffect
    {
        record.state = state
        record.updatedAt = now
        return .commit([CommitStep(record: record, event: event, detail: detail)])
    }

    /// Moves to a final state: journal it, answer the controller if it still waits, finish.
    mutating func end(
        _ state: SessionState, now: Date, event: JournalEventKind, note: String?, deny: DenyReason? = nil,
        screen: ScreenIntent? = nil
    ) -> [SessionEffect] {
        precondition(state.isFinal)
        if let note { record.note = note }
        phase = .ended
        timers = [:]
        var effects: [SessionEffect] = [
            .stopPolling, transition(to: state, now: now, event: event, detail: note ?? state.rawValue),
        ]
        if let deny, controllerWaiting, !denySent {
            denySent = true
            effects.append(.send(.deny(record.vendID, customerAborted ? .aborted : deny)))
        }
        controllerWaiting = false
        if let screen { effects.append(.show(screen)) }
        effects.append(.finished(state))
        return effects
    }
}

extension Date {
    /// `self + duration`, at millisecond precision (enough for deadlines on a vending machine).
    func adding(_ duration: Duration) -> Date {
        let (seconds, attoseconds) = duration.components
        return addingTimeInterval(TimeInterval(seconds) + TimeInterval(attoseconds / 1_000_000_000_000_000) / 1000)
    }
}
