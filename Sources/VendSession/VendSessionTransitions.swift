import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How each event moves the session: the transitions `handle(_:now:)` dispatches to.
extension VendSessionMachine {
    // MARK: Transitions

    mutating func adoptInvoice(
        _ info: InvoiceInfo, qrPayload: String, now: Date, how: JournalEventKind
    )
        -> [SessionEffect]
    {
        record.reference = info.reference
        record.providerInvoiceID = info.providerInvoiceID
        record.qrPayload = qrPayload
        if record.paymentDeadline == nil {
            record.paymentDeadline = policy.paymentDeadline(vendArrivedAt: record.createdAt)
        }
        let deadline = record.paymentDeadline ?? now
        timers[.offerDeadline] = nil
        invoiceMismatch = info.total != record.price
        switch info.status {
        case .paid:
            record.state = .invoiced
            return becomePaid(now: now, source: "\(how) with status paid")
        case .cancelled:
            return end(
                .cancelled, now: now, event: .cancelled, note: "the invoice was found cancelled at the API",
                deny: .unavailable, screen: .cancelled(reason: .unavailable))
        case .pending, .notPayable:
            break
        }
        phase = .awaitingPayment
        if invoiceMismatch {
            // The mismatch is known only in memory: journal the invoice as never payable here (no
            // QR, deadline passed), so that recovery after a crash cancels it instead of resuming it.
            record.qrPayload = nil
            record.paymentDeadline = now
        }
        var effects = [transition(to: .invoiced, now: now, event: how, detail: "reference \(info.reference)")]
        if invoiceMismatch {
            effects.append(
                .log(event: .totalMismatch, detail: "invoice total \(info.total) != price \(record.price)"))
            return effects + beginCancel(.mismatch, now: now)
        }
        if let word = info.status.notPayableWord {
            // Never offered: cancel (the API may still take it) and re-check; the session ends
            // with the word in the journal, or as a payment if one is reported meanwhile.
            return effects + noteNotPayable(word) + beginCancel(.notPayable, now: now)
        }
        if customerAborted { return effects + beginCancel(.aborted, now: now) }
        if controllerWaiting, now >= policy.offerDeadline(vendArrivedAt: record.createdAt) {
            // Too late to offer: the customer would not have the time to pay before the machine
            // gives up. Release the controller now; cancel and re-check in the background.
            effects.append(.log(event: .offerTooLate, detail: "invoice answered after the offer deadline"))
            effects += releaseController(.unavailable, screen: .cancelled(reason: .unavailable))
            return effects + beginCancel(.timeout, now: now)
        }
        let claimable = controllerWaiting || (claimDeadline.map { $0 > now } ?? false)
        guard deadline > now, claimable else {
            return effects + beginCancel(controllerWaiting ? .timeout : .unclaimed, now: now)
        }
        if controllerWaiting {
            effects.append(
                .show(
                    .pay(qrPayload: qrPayload, product: record.itemDescription, price: record.price, deadline: deadline)
                ))
            effects.append(.send(.accept(record.vendID)))
        }
        effects.append(.startPolling(info.reference))
        effects += schedule(.paymentDeadline, at: deadline)
        if !controllerWaiting, let claim = claimDeadline { effects += schedule(.claimGrace, at: min(claim, deadline)) }
        return effects
    }

    mutating func createFailed(_ failure: InvoiceCreateFailure, now: Date) -> [SessionEffect] {
        switch failure {
        case .rejected(_, let invalid):
            return end(
                .failed, now: now, event: .failed, note: failure.description, deny: invalid ? .invalid : .error,
                screen: .cancelled(reason: invalid ? .invalid : .error))
        case .unavailable:
            return end(
                .failed, now: now, event: .failed, note: failure.description, deny: .unavailable,
                screen: .cancelled(reason: .unavailable))
        case .outcomeUnknown:
            phase = .lookingUp
            return [.log(event: .createOutcomeUnknown, detail: failure.description), .lookupInvoice(record.tradeNo)]
        case .unusable(let reference, _):
            // Journal the reference as never payable (no QR, deadline passed) so that recovery
            // cancels it too; deny now; cancel and re-check. A payment is refund due (mismatch).
            record.reference = reference
            record.qrPayload = nil
            record.paymentDeadline = now
            invoiceMismatch = true
            timers[.offerDeadline] = nil
            phase = .awaitingPayment
            var effects = [transition(to: .invoiced, now: now, event: .invoiceCreated, detail: failure.description)]
            effects += releaseController(.error, screen: .cancelled(reason: .error))
            return effects + beginCancel(.mismatch, now: now)
        }
    }

    /// A poll answer. While awaiting payment it decides; once a cancel began it may be older than
    /// the cancel (sent before it), so only `paid` counts (a payment is never lost): the re-check,
    /// asked after the cancel answered, decides everything else.
    mutating func statusPolled(_ status: InvoiceStatus, now: Date) -> [SessionEffect] {
        pollFailures = 0
        switch phase {
        case .awaitingPayment:
            return statusRead(status, now: now)
        case .cancelling, .rechecking, .watching:
            if status == .paid { return becomePaid(now: now, source: "status paid (poll)") }
            guard let word = status.notPayableWord else { return [] }
            return noteNotPayable(word)
        default:
            return []  // a late poll answer after the session moved on
        }
    }

    mutating func statusRead(_ status: InvoiceStatus, now: Date) -> [SessionEffect] {
        switch status {
        case .paid:
            return becomePaid(now: now, source: "status paid")
        case .cancelled:
            return end(
                .cancelled, now: now, event: .cancelled, note: "the invoice was cancelled outside this daemon",
                deny: .error, screen: .cancelled(reason: .error))
        case .pending:
            return []
        case .notPayable(let word):
            return noteNotPayable(word) + beginCancel(.notPayable, now: now)
        }
    }

    /// The answer of the status read asked after the cancel answered: it decides the session.
    mutating func statusRechecked(_ status: InvoiceStatus, now: Date) -> [SessionEffect] {
        pollFailures = 0
        if phase == .watching { return watchRead(status, now: now) }
        guard phase == .rechecking else {
            // No re-check is in flight (a cancel retry is): only a payment counts.
            guard phase == .cancelling else { return [] }
            return status == .paid ? becomePaid(now: now, source: "status paid (re-check)") : []
        }
        switch status {
        case .paid:
            return becomePaid(now: now, source: "status paid after cancel")
        case .cancelled:
            let cause = cancelCause ?? .timeout
            return end(
                .cancelled, now: now, event: .cancelled, note: "cancelled (\(cause.rawValue))",
                deny: cause.denyReason,
                screen: .cancelled(reason: cause == .notPayable ? .unavailable : cause.denyReason))
        case .notPayable(let word):
            return noteNotPayable(word) + endNotPayable(word, now: now)
        case .pending:
            // The cancel did not take effect; try again after a pause. The controller is told
            // now: it must not wait on an API that may never confirm, or every later VEND would
            // be denied. A payment that lands meanwhile is refund due.
            phase = .cancelling
            var effects: [SessionEffect] = [.log(event: .cancelNotEffective, detail: "status \(status) after cancel")]
            effects += parkForRetry(
                note: "cancel not effective (\(cancelCause?.rawValue ?? "?")): status \(status)", now: now)
            return effects
        }
    }

    /// The invoice is neither payable nor cancelled at the API (`expired`, ...), and the status
    /// read after our cancel said so: nothing can be paid any more, the vend ends with the word.
    mutating func endNotPayable(_ word: String, now: Date) -> [SessionEffect] {
        end(
            .cancelled, now: now, event: .cancelled,
            note: "not payable: the API says the invoice is '\(word)' (cancel cause \(cancelCause?.rawValue ?? "?"))",
            deny: (cancelCause ?? .notPayable).denyReason, screen: .cancelled(reason: .unavailable))
    }

    /// Journals a status word other than pending, paid or cancelled, once per change of word.
    mutating func noteNotPayable(_ word: String) -> [SessionEffect] {
        guard lastNotPayableWord != word else { return [] }
        lastNotPayableWord = word
        return [.log(event: .unknownStatus, detail: "status '\(word)': not payable")]
    }

    mutating func pollFailed(_ message: String, now: Date) -> [SessionEffect] {
        pollFailures += 1
        guard phase == .awaitingPayment else { return [] }  // the re-check decides once cancelling
        // Keep polling (the coordinator backs off); the deadline still ends the vend.
        return pollFailures == 1 ? [.log(event: .pollFailed, detail: message)] : []
    }

    mutating func recheckFailed(_ message: String, now: Date) -> [SessionEffect] {
        if phase == .watching {
            // Nothing is known of this read; past the watch, the end waits for an answer (bounded
            // by the settling budget): a payment may have come meanwhile.
            guard let until = watchUntil, now < until else {
                return [.log(event: .recheckFailed, detail: message)]
                    + retryOrGiveUp(note: "late-payment watch: status read failed: \(message)", now: now)
            }
            return [.log(event: .recheckFailed, detail: message)] + scheduleWatchRead(now: now)
        }
        guard phase == .rechecking else { return [] }
        var effects: [SessionEffect] = [.log(event: .recheckFailed, detail: message)]
        effects += parkForRetry(note: "cancel sent, status re-check failed: \(message)", now: now)
        return effects
    }

    /// A 404 for our reference. After our cancel it is the cancel's proof (soft delete). While
    /// awaiting payment it is never trusted alone: cancel (404 -> cancelled, 422 -> re-check) and
    /// let the re-check decide, so a stray 404 cannot make a paid invoice be forgotten.
    mutating func invoiceGone(now: Date) -> [SessionEffect] {
        pollFailures = 0
        switch phase {
        case .rechecking:
            // Our cancel is confirmed: the vend is over for the controller. The provider may still
            // take a payment of the soft-deleted invoice: watch for one when the policy says so.
            guard policy.latePaymentWatch > .zero else { return statusRechecked(.cancelled, now: now) }
            return beginWatch(now: now)
        case .watching:
            return watchRead(nil, now: now)
        case .awaitingPayment:
            return [.log(event: .invoiceGone, detail: "status answered 404")] + beginCancel(.gone, now: now)
        default:
            return []
        }
    }

    mutating func timerFired(_ timer: SessionTimer, now: Date) -> [SessionEffect] {
        switch (timer, phase) {
        case (.paymentDeadline, .awaitingPayment):
            return beginCancel(controllerWaiting ? .timeout : .unclaimed, now: now)
        case (.claimGrace, .awaitingPayment) where !controllerWaiting:
            return beginCancel(.unclaimed, now: now)
        case (.claimGrace, .awaitingClaim) where !controllerWaiting:
            return end(
                .refundDue, now: now, event: .refundDue,
                note: "paid, but the controller did not re-claim the vend within the resume grace")
        case (.retry, .cancelling):
            guard let reference = record.reference else { return [] }
            return [.cancelInvoice(reference)]
        case (.retry, .rechecking):
            guard let reference = record.reference else { return [] }
            return [.checkStatus(reference)]
        case (.retry, .watching):
            guard let reference = record.reference else { return [] }
            return [.watchStatus(reference)]
        case (.retry, .lookingUp):
            return [.lookupInvoice(record.tradeNo)]
        case (.offerDeadline, .creating), (.offerDeadline, .lookingUp):
            // The create (its retries, lookups, rate-limit waits) used the budget up: deny now.
            // The call goes on; an invoice it yields is cancelled, as nobody waits for it.
            return [.log(event: .offerDeadline, detail: "no invoice in time while \(phase)")]
                + releaseController(.unavailable, screen: .cancelled(reason: .unavailable))
        default:
            return []
        }
    }

    mutating func aborted(now: Date) -> [SessionEffect] {
        customerAborted = true
        switch phase {
        case .awaitingPayment:
            return beginCancel(.aborted, now: now)
        case .creating, .lookingUp, .cancelling, .rechecking, .awaitingClaim:
            // The controller is released at once (the next customer must not wait on a slow API
            // call); the call finishes in the background. Creating/looking up: the invoice, if
            // one appears, is cancelled at once and re-checked. Cancelling: the cancel and
            // re-check go on. Paid and unclaimed: refund due at the end of the grace.
            if phase == .cancelling || phase == .rechecking { cancelCause = .aborted }
            return [.log(event: .aborted, detail: "customer aborted while \(phase)")]
                + releaseController(.aborted, screen: .cancelled(reason: .aborted))
        case .dispensing, .watching, .ended:
            return [.log(event: .ignored, detail: "ABORT while \(phase)")]
        }
    }

    mutating func controllerGone(_ reason: String, now: Date) -> [SessionEffect] {
        let wasWaiting = controllerWaiting
        controllerWaiting = false
        switch phase {
        case .dispensing:
            return end(
                .dispenseUnknown, now: now, event: .dispenseUnknown,
                note: "controller gone after DISPENSE (\(reason)); outcome unknown, never dispensed again",
                screen: .dispenseUnknown(tradeNo: record.tradeNo))
        case .creating, .lookingUp:
            guard wasWaiting else { return [] }
            claimDeadline = now.adding(policy.resumeGrace)
            return [.log(event: .controllerGone, detail: reason)]
        case .awaitingPayment:
            guard wasWaiting else { return [] }
            // Keep the invoice for a re-claim, but not past the payment deadline.
            let grace = now.adding(policy.resumeGrace)
            let until = min(grace, record.paymentDeadline ?? grace)
            claimDeadline = until
            return [.log(event: .controllerGone, detail: reason)] + schedule(.claimGrace, at: until)
        case .cancelling, .rechecking, .watching, .awaitingClaim, .ended:
            return wasWaiting ? [.log(event: .controllerGone, detail: reason)] : []
        }
    }

    mutating func reclaimed(_ request: VendRequest, now: Date) -> [SessionEffect] {
        guard request.id == record.vendID, request.product == record.product, request.price == record.price else {
            return [.log(event: .reclaimMismatch, detail: "VEND \(request.id) \(request.product) \(request.price)")]
                + denyReclaim(request, now: now)
        }
        switch phase {
        case .creating, .lookingUp:
            guard !denySent, !customerAborted else { return denyReclaim(request, now: now) }
            controllerWaiting = true
            vendArrivedAt = now
            claimDeadline = nil
            return [.log(event: .reclaimed, detail: "while \(phase)")]
        case .awaitingPayment:
            guard let deadline = record.paymentDeadline, deadline > now, let payload = record.qrPayload,
                !customerAborted
            else { return denyReclaim(request, now: now) }
            controllerWaiting = true
            vendArrivedAt = now
            denySent = false
            claimDeadline = nil
            timers[.claimGrace] = nil
            return [
                .log(event: .resumed, detail: "controller re-claimed the vend"),
                .show(
                    .pay(qrPayload: payload, product: record.itemDescription, price: record.price, deadline: deadline)),
                .send(.accept(record.vendID)),
            ]
        case .awaitingClaim:
            guard !customerAborted else { return denyReclaim(request, now: now) }
            controllerWaiting = true
            vendArrivedAt = now
            denySent = false
            claimDeadline = nil
            timers[.claimGrace] = nil
            return [.log(event: .reclaimed, detail: "paid vend re-claimed")] + decideDispense(now: now)
        case .cancelling, .rechecking, .watching, .dispensing, .ended:
            return denyReclaim(request, now: now)
        }
    }

    /// Answers a `VEND` for this vend id with `DENY duplicate-id`. That releases the controller, so
    /// no `DISPENSE` may follow for this vend (a payment from now on is refund due), and an invoice
    /// still awaiting payment is cancelled at once. A `DISPENSE` already out still awaits its result.
    mutating func denyReclaim(_ request: VendRequest, now: Date) -> [SessionEffect] {
        var effects: [SessionEffect] = [.send(.deny(request.id, .duplicateID))]
        guard phase != .dispensing, phase != .ended else { return effects }
        denySent = true
        controllerWaiting = false
        if phase == .awaitingPayment { effects += beginCancel(.unclaimed, now: now) }
        return effects
    }

    mutating func cancelAnswered(_ outcome: CancelOutcome, now: Date) -> [SessionEffect] {
        guard phase == .cancelling, let reference = record.reference else { return [] }
        switch outcome {
        case .cancelled:
            phase = .rechecking
            retryAttempt = 0
            return [.log(event: .cancelConfirmed, detail: "re-checking status"), .checkStatus(reference)]
        case .alreadyPaid:
            // Only a status read authorises a dispense: re-check.
            phase = .rechecking
            return [.log(event: .cancelRefusedPaid, detail: "re-checking status"), .checkStatus(reference)]
        case .notPayable(let word):
            // DELETE refused and the status read after it says the word: nothing to cancel, nothing to pay.
            return noteNotPayable(word) + endNotPayable(word, now: now)
        case .failed(let message):
            return parkForRetry(note: "cancel pending (\(cancelCause?.rawValue ?? "?")): \(message)", now: now)
        }
    }
}
