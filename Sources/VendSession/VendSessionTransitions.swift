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
        case .pending, .other:
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
        }
    }

    mutating func statusRead(_ status: InvoiceStatus, now: Date) -> [SessionEffect] {
        pollFailures = 0
        switch phase {
        case .awaitingPayment, .cancelling, .rechecking:
            break
        default:
            return []  // a late poll answer after the session moved on
        }
        switch status {
        case .paid:
            return becomePaid(now: now, source: "status paid")
        case .cancelled:
            if phase == .awaitingPayment {
                return end(
                    .cancelled, now: now, event: .cancelled, note: "the invoice was cancelled outside this daemon",
                    deny: .error, screen: .cancelled(reason: .error))
            }
            let cause = cancelCause ?? .timeout
            return end(
                .cancelled, now: now, event: .cancelled, note: "cancelled (\(cause.rawValue))",
                deny: cause.denyReason, screen: .cancelled(reason: cause.denyReason))
        case .pending, .other:
            var effects: [SessionEffect] = []
            if case .other(let value) = status {
                effects.append(.log(event: .unknownStatus, detail: "status '\(value)' treated as not paid"))
            }
            if phase == .rechecking {
                // The cancel did not take effect; try again after a pause. The controller is told
                // now: it must not wait on an API that may never confirm (an unknown status can
                // last for ever), or every later VEND would be denied. A payment that lands
                // meanwhile is refund due.
                phase = .cancelling
                effects.append(.log(event: .cancelNotEffective, detail: "status \(status) after cancel"))
                effects += parkForRetry(
                    note: "cancel not effective (\(cancelCause?.rawValue ?? "?")): status \(status)", now: now)
            }
            return effects
        }
    }

    mutating func pollFailed(_ message: String, now: Date) -> [SessionEffect] {
        pollFailures += 1
        switch phase {
        case .awaitingPayment:
            // Keep polling (the coordinator backs off); the deadline still ends the vend.
            return pollFailures == 1 ? [.log(event: .pollFailed, detail: message)] : []
        case .rechecking:
            var effects: [SessionEffect] = [.log(event: .recheckFailed, detail: message)]
            effects += parkForRetry(note: "cancel sent, status re-check failed: \(message)", now: now)
            return effects
        default:
            return []
        }
    }

    /// A 404 for our reference. After our cancel it is the cancel's proof (soft delete). While
    /// awaiting payment it is never trusted alone: cancel (404 -> cancelled, 422 -> re-check) and
    /// let the re-check decide, so a stray 404 cannot make a paid invoice be forgotten.
    mutating func invoiceGone(now: Date) -> [SessionEffect] {
        pollFailures = 0
        switch phase {
        case .rechecking:
            return statusRead(.cancelled, now: now)
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
        case .dispensing, .ended:
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
        case .cancelling, .rechecking, .awaitingClaim, .ended:
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
            claimDeadline = nil
            return [.log(event: .reclaimed, detail: "while \(phase)")]
        case .awaitingPayment:
            guard let deadline = record.paymentDeadline, deadline > now, let payload = record.qrPayload,
                !customerAborted
            else { return denyReclaim(request, now: now) }
            controllerWaiting = true
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
            denySent = false
            claimDeadline = nil
            timers[.claimGrace] = nil
            return [.log(event: .reclaimed, detail: "paid vend re-claimed")] + decideDispense(now: now)
        case .cancelling, .rechecking, .dispensing, .ended:
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
        case .failed(let message):
            return parkForRetry(note: "cancel pending (\(cancelCause?.rawValue ?? "?")): \(message)", now: now)
        }
    }
}
