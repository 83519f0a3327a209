import Foundation
import KioskCore

/// The vend-session state machine: events in, ordered effects out. No I/O and no clock reads;
/// `now` comes with every event. Every money-safety rule of product.md section 3 lives here:
///
/// 1. At most one `DISPENSE` per session, ever: the `.send(.dispense)` effect is produced only on
///    the single transition `paid -> dispensing`, always preceded by a `persist` of `dispensing`.
/// 2. No paid invoice is forgotten: a session that saw `paid` ends `dispensed`, `refund_due` or
///    `dispense_unknown`.
/// 3. No dispense without payment: only `statusPolled(.paid)` or a lookup that found the invoice
///    `paid` moves a session to `paid`. A cancel refused as "already paid" triggers a status
///    re-check; it does not authorise a dispense by itself.
/// 4. No orphan invoices: an abandoned invoice is cancelled; a cancel the API cannot take is
///    retried with back-off and the session stays `invoiced` (with a note) until it is. A 404 for
///    our reference (`invoiceGone`: cancelled invoices are soft-deleted) confirms a cancel; while
///    awaiting payment it starts a cancel and re-check, never ends the vend by itself.
/// 5. No wedge: whenever the API cannot settle a cancel, the controller is released at once
///    (`DENY`); a `DENY` for the vend, however caused, means no `DISPENSE` may follow it.
///
/// Timeout and the cancel/payment race: at the deadline the machine cancels first and tells the
/// controller nothing yet. Only when the cancel is confirmed and a status re-check says
/// `cancelled` does it send `DENY timeout`. If the re-check (or a late poll) says `paid` while the
/// controller still waits for this vend (no `DENY` sent, no `ABORT`, link up), the vend is
/// dispensed: the customer paid just in time and is still at the machine. If a `DENY` was
/// already sent (the cancel could not reach the API and the controller was released), or the
/// customer aborted, or the controller is gone, a late payment becomes `refund_due`.
public struct VendSessionMachine: Hashable, Sendable {
    /// Where the session is within its journaled state.
    public enum Phase: Hashable, Sendable {
        /// `requested`: `POST /invoices` in flight.
        case creating
        /// `requested`: looking the trade_no up (lost create answer, or recovery).
        case lookingUp
        /// `invoiced`: polling for payment.
        case awaitingPayment
        /// `invoiced`: a cancel is in flight or waiting for a retry.
        case cancelling
        /// `invoiced`: the cancel answered; a status read decides between cancelled and paid.
        case rechecking
        /// `paid`: waiting for the controller to re-claim the vend within the grace.
        case awaitingClaim
        /// `dispensing`: the command went (or is going) out; waiting for DISPENSED/FAILED.
        case dispensing
        /// A final state.
        case ended
    }

    /// Why an invoice is being cancelled.
    public enum CancelCause: String, Hashable, Sendable {
        case timeout
        case aborted
        /// Nobody re-claimed the vend within the resume grace (restart, controller gone).
        case unclaimed
        /// The API's invoice does not match the vend (wrong total).
        case mismatch
        /// A status read answered 404 (cancelled elsewhere): the cancel and re-check confirm it.
        case gone

        var denyReason: DenyReason {
            switch self {
            case .timeout, .unclaimed: return .timeout
            case .aborted: return .aborted
            case .mismatch, .gone: return .error
            }
        }
    }

    public private(set) var record: SessionRecord
    public let policy: SessionPolicy
    public private(set) var phase: Phase
    /// The controller waits for an answer about this vend (a fresh request or a re-claim).
    public private(set) var controllerWaiting: Bool
    /// A `DENY` for this vend went out; the controller was released, so no dispense may follow.
    public private(set) var denySent = false
    /// The customer pressed abort; no dispense may follow.
    public private(set) var customerAborted = false
    /// The one `DISPENSE` of this session has been produced.
    public private(set) var dispenseCommanded = false
    /// Until when a re-claim is awaited when the controller is not waiting.
    public private(set) var claimDeadline: Date?
    /// Why the invoice is being cancelled, once a cancel started.
    public private(set) var cancelCause: CancelCause?
    /// Timers the machine asked for and still honours; a stale fire is ignored.
    public private(set) var timers: [SessionTimer: Date] = [:]
    private var retryAttempt = 0
    /// The API's invoice total differs from the vend price: never dispense against it.
    public private(set) var invoiceMismatch = false
    /// Consecutive failed status reads (for notes; the coordinator owns the poll back-off).
    public private(set) var pollFailures = 0

    /// A machine for a fresh request, already journaled as `requested`. Feed it `.start`.
    public init(newSession record: SessionRecord, policy: SessionPolicy) {
        self.record = record
        self.policy = policy
        self.phase = .creating
        self.controllerWaiting = true
    }

    private init(recovered record: SessionRecord, policy: SessionPolicy, phase: Phase) {
        self.record = record
        self.policy = policy
        self.phase = phase
        self.controllerWaiting = false
    }

    /// Whether the session awaits an API answer or a re-claim; false once it is final.
    public var isOpen: Bool { phase != .ended }

    // MARK: Recovery (product.md section 4)

    /// Settles a session found open in the journal on start. Nobody waits for it until the
    /// controller re-claims it (`controllerReclaimed`) within `policy.resumeGrace`.
    ///
    /// - `requested`: look the trade_no up; what is found is settled like a fresh answer
    ///   (pending: kept for the grace then cancelled; paid: dispensed if re-claimed, else refund due;
    ///   not found: failed).
    /// - `invoiced`: keep polling during the grace; a re-claim resumes (same invoice, same QR,
    ///   `ACCEPT` again); otherwise cancel, then re-check (paid becomes refund due).
    /// - `paid`: a re-claim within the grace dispenses (journaled first); otherwise refund due.
    /// - `dispensing`: the outcome is unknown: `dispense_unknown`, never dispensed again.
    public static func recover(_ record: SessionRecord, policy: SessionPolicy, now: Date)
        -> (machine: VendSessionMachine, effects: [SessionEffect])
    {
        var machine = VendSessionMachine(recovered: record, policy: policy, phase: .lookingUp)
        let grace = now.adding(policy.resumeGrace)
        var effects: [SessionEffect] = [
            .log(event: "recovering", detail: "found \(record.state.rawValue) on start")
        ]
        switch record.state {
        case .requested:
            machine.claimDeadline = grace
            effects += machine.schedule(.claimGrace, at: grace)
            effects.append(.lookupInvoice(record.tradeNo))
        case .invoiced:
            guard let reference = record.reference else {
                // An invoiced row without a reference cannot come from this machine; treat it as
                // an unknown create outcome.
                machine.phase = .lookingUp
                machine.claimDeadline = grace
                effects += machine.schedule(.claimGrace, at: grace)
                effects.append(.lookupInvoice(record.tradeNo))
                return (machine, effects)
            }
            machine.phase = .awaitingPayment
            let deadline = record.paymentDeadline ?? now
            if deadline <= now {
                effects += machine.beginCancel(.timeout, now: now)
            } else {
                machine.claimDeadline = min(grace, deadline)
                effects.append(.startPolling(reference))
                effects += machine.schedule(.paymentDeadline, at: deadline)
                effects += machine.schedule(.claimGrace, at: min(grace, deadline))
            }
        case .paid:
            machine.phase = .awaitingClaim
            machine.claimDeadline = grace
            effects += machine.schedule(.claimGrace, at: grace)
        case .dispensing:
            machine.dispenseCommanded = true
            effects += machine.end(
                .dispenseUnknown, now: now, event: "dispense_unknown",
                note: "dispense was commanded before a restart; outcome unknown, never dispensed again")
        case .dispensed, .cancelled, .refundDue, .dispenseUnknown, .failed:
            machine.phase = .ended
            effects = [.finished(record.state)]
        }
        return (machine, effects)
    }

    // MARK: Events

    /// Applies one event at wall time `now` and returns the effects to run, in order.
    public mutating func handle(_ event: SessionEvent, now: Date) -> [SessionEffect] {
        if phase == .ended {
            // Final states never change. A re-claim of an ended vend is a duplicate id.
            if case .controllerReclaimed(let request) = event {
                return [.send(.deny(request.id, .duplicateID))]
            }
            return []
        }
        switch event {
        case .start:
            guard phase == .creating, record.state == .requested, record.reference == nil else { return [] }
            let offerBy = policy.offerDeadline(vendArrivedAt: record.createdAt)
            guard offerBy > now else {
                // The budget is spent before the first request: deny now, create nothing.
                return end(
                    .failed, now: now, event: "failed",
                    note: "no time left to offer an invoice before the machine's timeout",
                    deny: .unavailable, screen: .cancelled(reason: "payment unavailable"))
            }
            return [.createInvoice] + schedule(.offerDeadline, at: offerBy)
        case .invoiceCreated(let info, let payload):
            guard phase == .creating else {
                return [.log(event: "ignored", detail: "invoice created answer while \(phase)")]
            }
            return adoptInvoice(info, qrPayload: payload, now: now, how: "invoice_created")
        case .invoiceCreateFailed(let failure):
            guard phase == .creating else { return [] }
            return createFailed(failure, now: now)
        case .invoiceFound(let info, let payload):
            guard phase == .lookingUp else { return [] }
            retryAttempt = 0
            return adoptInvoice(info, qrPayload: payload, now: now, how: "invoice_found")
        case .invoiceNotFound:
            guard phase == .lookingUp else { return [] }
            return end(
                .failed, now: now, event: "failed", note: "no invoice was created for this trade_no",
                deny: .unavailable, screen: .cancelled(reason: "payment unavailable"))
        case .lookupFailed(let message):
            guard phase == .lookingUp else { return [] }
            var effects: [SessionEffect] = [.log(event: "lookup_failed", detail: message)]
            // Do not keep the controller waiting on an API that does not answer; keep looking.
            effects += releaseController(.unavailable, screen: .cancelled(reason: "payment unavailable"))
            effects += scheduleRetry(now: now)
            return effects
        case .statusPolled(let status):
            return statusRead(status, now: now)
        case .pollFailed(let message):
            return pollFailed(message, now: now)
        case .invoiceGone:
            return invoiceGone(now: now)
        case .timerFired(let timer):
            // Only a timer still pending counts (a replaced or cleared one is stale). Its executor
            // sleeps on a monotonic clock, so a fire that looks early against the wall clock
            // (stepped back by NTP on a board without RTC) is still due: ignoring it would leave
            // the session open for ever.
            guard timers[timer] != nil else { return [] }
            timers[timer] = nil
            return timerFired(timer, now: now)
        case .controllerAborted:
            return aborted(now: now)
        case .controllerDispensed:
            guard phase == .dispensing else {
                return [.log(event: "ignored", detail: "DISPENSED while \(phase)")]
            }
            return end(.dispensed, now: now, event: "dispensed", note: nil, screen: .idle)
        case .controllerDispenseFailed(let reason):
            guard phase == .dispensing else {
                return [.log(event: "ignored", detail: "FAILED \(reason) while \(phase)")]
            }
            return end(
                .refundDue, now: now, event: "refund_due", note: "dispense failed: \(reason)",
                screen: .refundDue(tradeNo: record.tradeNo))
        case .controllerGone(let reason):
            return controllerGone(reason, now: now)
        case .controllerReclaimed(let request):
            return reclaimed(request, now: now)
        case .cancelAnswered(let outcome):
            return cancelAnswered(outcome, now: now)
        case .dispenseSent:
            return phase == .dispensing ? [.log(event: "dispense_sent", detail: "DISPENSE written")] : []
        case .dispenseSendFailed(let message):
            guard phase == .dispensing else { return [] }
            // The line never went out, so nothing was released; the payment must be refunded.
            return end(
                .refundDue, now: now, event: "refund_due",
                note: "the DISPENSE command could not be written: \(message)",
                screen: .refundDue(tradeNo: record.tradeNo))
        }
    }

    /// The daemon is stopping and the controller cannot re-claim this vend after the restart
    /// (its protocol has no vend ids: qibixx-mdb). An invoice awaiting payment is cancelled now,
    /// with the usual re-check (a payment that won the race becomes refund due); the controller,
    /// if it still waits, is released. A session without an invoice yet is left to recovery,
    /// which looks its trade_no up and cancels what it finds.
    public mutating func abandonForShutdown(now: Date) -> [SessionEffect] {
        guard phase == .awaitingPayment else { return [] }
        var effects: [SessionEffect] = [.log(event: "shutdown", detail: "cannot be re-claimed after a restart")]
        effects += releaseController(.unavailable, screen: .outOfService(reason: "shutting down"))
        controllerWaiting = false
        claimDeadline = nil
        return effects + beginCancel(.unclaimed, now: now)
    }

    // MARK: Transitions

    private mutating func adoptInvoice(_ info: InvoiceInfo, qrPayload: String, now: Date, how: String)
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
                .cancelled, now: now, event: "cancelled", note: "the invoice was found cancelled at the API",
                deny: .unavailable, screen: .cancelled(reason: "payment unavailable"))
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
                .log(event: "total_mismatch", detail: "invoice total \(info.total) != price \(record.price)"))
            return effects + beginCancel(.mismatch, now: now)
        }
        if customerAborted { return effects + beginCancel(.aborted, now: now) }
        if controllerWaiting, now >= policy.offerDeadline(vendArrivedAt: record.createdAt) {
            // Too late to offer: the customer would not have the time to pay before the machine
            // gives up. Release the controller now; cancel and re-check in the background.
            effects.append(.log(event: "offer_too_late", detail: "invoice answered after the offer deadline"))
            effects += releaseController(.unavailable, screen: .cancelled(reason: "payment unavailable"))
            return effects + beginCancel(.timeout, now: now)
        }
        let claimable = controllerWaiting || (claimDeadline.map { $0 > now } ?? false)
        guard deadline > now, claimable else {
            return effects + beginCancel(controllerWaiting ? .timeout : .unclaimed, now: now)
        }
        if controllerWaiting {
            effects.append(
                .show(.pay(qrPayload: qrPayload, product: record.itemDescription, price: record.price, deadline: deadline)))
            effects.append(.send(.accept(record.vendID)))
        }
        effects.append(.startPolling(info.reference))
        effects += schedule(.paymentDeadline, at: deadline)
        if !controllerWaiting, let claim = claimDeadline { effects += schedule(.claimGrace, at: min(claim, deadline)) }
        return effects
    }

    private mutating func createFailed(_ failure: InvoiceCreateFailure, now: Date) -> [SessionEffect] {
        switch failure {
        case .rejected(let message, let invalid):
            return end(
                .failed, now: now, event: "failed", note: failure.description, deny: invalid ? .invalid : .error,
                screen: .cancelled(reason: invalid ? "invalid request" : "payment error: \(message)"))
        case .unavailable:
            return end(
                .failed, now: now, event: "failed", note: failure.description, deny: .unavailable,
                screen: .cancelled(reason: "payment unavailable"))
        case .outcomeUnknown:
            phase = .lookingUp
            return [.log(event: "create_outcome_unknown", detail: failure.description), .lookupInvoice(record.tradeNo)]
        }
    }

    private mutating func statusRead(_ status: InvoiceStatus, now: Date) -> [SessionEffect] {
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
                    .cancelled, now: now, event: "cancelled", note: "the invoice was cancelled outside this daemon",
                    deny: .error, screen: .cancelled(reason: "invoice cancelled"))
            }
            let cause = cancelCause ?? .timeout
            return end(
                .cancelled, now: now, event: "cancelled", note: "cancelled (\(cause.rawValue))",
                deny: cause.denyReason, screen: .cancelled(reason: cause.rawValue))
        case .pending, .other:
            var effects: [SessionEffect] = []
            if case .other(let value) = status {
                effects.append(.log(event: "unknown_status", detail: "status '\(value)' treated as not paid"))
            }
            if phase == .rechecking {
                // The cancel did not take effect; try again after a pause. The controller is told
                // now: it must not wait on an API that may never confirm (an unknown status can
                // last for ever), or every later VEND would be denied. A payment that lands
                // meanwhile is refund due.
                phase = .cancelling
                effects.append(.log(event: "cancel_not_effective", detail: "status \(status) after cancel"))
                effects += parkForRetry(note: "cancel not effective (\(cancelCause?.rawValue ?? "?")): status \(status)", now: now)
            }
            return effects
        }
    }

    private mutating func pollFailed(_ message: String, now: Date) -> [SessionEffect] {
        pollFailures += 1
        switch phase {
        case .awaitingPayment:
            // Keep polling (the coordinator backs off); the deadline still ends the vend.
            return pollFailures == 1 ? [.log(event: "poll_failed", detail: message)] : []
        case .rechecking:
            var effects: [SessionEffect] = [.log(event: "recheck_failed", detail: message)]
            effects += parkForRetry(note: "cancel sent, status re-check failed: \(message)", now: now)
            return effects
        default:
            return []
        }
    }

    /// A 404 for our reference. After our cancel it is the cancel's proof (soft delete). While
    /// awaiting payment it is never trusted alone: cancel (404 -> cancelled, 422 -> re-check) and
    /// let the re-check decide, so a stray 404 cannot make a paid invoice be forgotten.
    private mutating func invoiceGone(now: Date) -> [SessionEffect] {
        pollFailures = 0
        switch phase {
        case .rechecking:
            return statusRead(.cancelled, now: now)
        case .awaitingPayment:
            return [.log(event: "invoice_gone", detail: "status answered 404")] + beginCancel(.gone, now: now)
        default:
            return []
        }
    }

    private mutating func timerFired(_ timer: SessionTimer, now: Date) -> [SessionEffect] {
        switch (timer, phase) {
        case (.paymentDeadline, .awaitingPayment):
            return beginCancel(controllerWaiting ? .timeout : .unclaimed, now: now)
        case (.claimGrace, .awaitingPayment) where !controllerWaiting:
            return beginCancel(.unclaimed, now: now)
        case (.claimGrace, .awaitingClaim) where !controllerWaiting:
            return end(
                .refundDue, now: now, event: "refund_due",
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
            return [.log(event: "offer_deadline", detail: "no invoice in time while \(phase)")]
                + releaseController(.unavailable, screen: .cancelled(reason: "payment unavailable"))
        default:
            return []
        }
    }

    private mutating func aborted(now: Date) -> [SessionEffect] {
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
            return [.log(event: "aborted", detail: "customer aborted while \(phase)")]
                + releaseController(.aborted, screen: .cancelled(reason: "aborted"))
        case .dispensing, .ended:
            return [.log(event: "ignored", detail: "ABORT while \(phase)")]
        }
    }

    private mutating func controllerGone(_ reason: String, now: Date) -> [SessionEffect] {
        let wasWaiting = controllerWaiting
        controllerWaiting = false
        switch phase {
        case .dispensing:
            return end(
                .dispenseUnknown, now: now, event: "dispense_unknown",
                note: "controller gone after DISPENSE (\(reason)); outcome unknown, never dispensed again")
        case .creating, .lookingUp:
            guard wasWaiting else { return [] }
            claimDeadline = now.adding(policy.resumeGrace)
            return [.log(event: "controller_gone", detail: reason)]
        case .awaitingPayment:
            guard wasWaiting else { return [] }
            // Keep the invoice for a re-claim, but not past the payment deadline.
            let grace = now.adding(policy.resumeGrace)
            let until = min(grace, record.paymentDeadline ?? grace)
            claimDeadline = until
            return [.log(event: "controller_gone", detail: reason)] + schedule(.claimGrace, at: until)
        case .cancelling, .rechecking, .awaitingClaim, .ended:
            return wasWaiting ? [.log(event: "controller_gone", detail: reason)] : []
        }
    }

    private mutating func reclaimed(_ request: VendRequest, now: Date) -> [SessionEffect] {
        guard request.id == record.vendID, request.product == record.product, request.price == record.price else {
            return [.log(event: "reclaim_mismatch", detail: "VEND \(request.id) \(request.product) \(request.price)")]
                + denyReclaim(request, now: now)
        }
        switch phase {
        case .creating, .lookingUp:
            guard !denySent, !customerAborted else { return denyReclaim(request, now: now) }
            controllerWaiting = true
            claimDeadline = nil
            return [.log(event: "reclaimed", detail: "while \(phase)")]
        case .awaitingPayment:
            guard let deadline = record.paymentDeadline, deadline > now, let payload = record.qrPayload,
                !customerAborted
            else { return denyReclaim(request, now: now) }
            controllerWaiting = true
            denySent = false
            claimDeadline = nil
            timers[.claimGrace] = nil
            return [
                .log(event: "resumed", detail: "controller re-claimed the vend"),
                .show(.pay(qrPayload: payload, product: record.itemDescription, price: record.price, deadline: deadline)),
                .send(.accept(record.vendID)),
            ]
        case .awaitingClaim:
            guard !customerAborted else { return denyReclaim(request, now: now) }
            controllerWaiting = true
            denySent = false
            claimDeadline = nil
            timers[.claimGrace] = nil
            return [.log(event: "reclaimed", detail: "paid vend re-claimed")] + decideDispense(now: now)
        case .cancelling, .rechecking, .dispensing, .ended:
            return denyReclaim(request, now: now)
        }
    }

    /// Answers a `VEND` for this vend id with `DENY duplicate-id`. That releases the controller, so
    /// no `DISPENSE` may follow for this vend (a payment from now on is refund due), and an invoice
    /// still awaiting payment is cancelled at once. A `DISPENSE` already out still awaits its result.
    private mutating func denyReclaim(_ request: VendRequest, now: Date) -> [SessionEffect] {
        var effects: [SessionEffect] = [.send(.deny(request.id, .duplicateID))]
        guard phase != .dispensing, phase != .ended else { return effects }
        denySent = true
        controllerWaiting = false
        if phase == .awaitingPayment { effects += beginCancel(.unclaimed, now: now) }
        return effects
    }

    private mutating func cancelAnswered(_ outcome: CancelOutcome, now: Date) -> [SessionEffect] {
        guard phase == .cancelling, let reference = record.reference else { return [] }
        switch outcome {
        case .cancelled:
            phase = .rechecking
            retryAttempt = 0
            return [.log(event: "cancel_confirmed", detail: "re-checking status"), .checkStatus(reference)]
        case .alreadyPaid:
            // Only a status read authorises a dispense: re-check.
            phase = .rechecking
            return [.log(event: "cancel_refused_paid", detail: "re-checking status"), .checkStatus(reference)]
        case .failed(let message):
            return parkForRetry(note: "cancel pending (\(cancelCause?.rawValue ?? "?")): \(message)", now: now)
        }
    }

    // MARK: Building blocks

    private mutating func beginCancel(_ cause: CancelCause, now: Date) -> [SessionEffect] {
        guard let reference = record.reference else { return [] }
        cancelCause = customerAborted ? .aborted : cause
        phase = .cancelling
        retryAttempt = 0
        timers[.paymentDeadline] = nil
        timers[.claimGrace] = nil
        return [
            .stopPolling,
            .log(event: "cancelling", detail: "cause \(cancelCause?.rawValue ?? cause.rawValue)"),
            .cancelInvoice(reference),
        ]
    }

    /// The API did not answer a cancel or re-check: the controller is released now (it must not
    /// wait on the API), the session stays `invoiced` with a note, and the call is retried.
    private mutating func parkForRetry(note: String, now: Date) -> [SessionEffect] {
        var effects: [SessionEffect] = []
        if record.note != note {
            record.note = note
            effects.append(transition(to: record.state, now: now, event: "cancel_pending", detail: note))
        }
        let reason = cancelCause?.denyReason ?? .unavailable
        effects += releaseController(reason, screen: .cancelled(reason: reason.rawValue))
        effects += scheduleRetry(now: now)
        return effects
    }

    private mutating func releaseController(_ reason: DenyReason, screen: ScreenIntent) -> [SessionEffect] {
        guard controllerWaiting, !denySent else { return [] }
        denySent = true
        controllerWaiting = false
        return [.send(.deny(record.vendID, customerAborted ? .aborted : reason)), .show(screen)]
    }

    private mutating func scheduleRetry(now: Date) -> [SessionEffect] {
        retryAttempt += 1
        return schedule(.retry, at: now.adding(policy.retryDelay(attempt: retryAttempt)))
    }

    private mutating func schedule(_ timer: SessionTimer, at date: Date) -> [SessionEffect] {
        timers[timer] = date
        return [.startTimer(timer, at: date)]
    }

    private mutating func becomePaid(now: Date, source: String) -> [SessionEffect] {
        guard record.state == .invoiced || record.state == .requested else { return [] }
        record.paidAt = now
        timers[.paymentDeadline] = nil
        timers[.retry] = nil
        if invoiceMismatch {
            // Straight to refund due: a journaled `paid` would let recovery dispense against it.
            return end(
                .refundDue, now: now, event: "refund_due",
                note: "paid (\(source)), but the invoice total differs from the vend price \(record.price)",
                deny: .error, screen: .refundDue(tradeNo: record.tradeNo))
        }
        let effects: [SessionEffect] = [
            transition(to: .paid, now: now, event: "paid", detail: source),
            .stopPolling,
        ]
        return effects + decideDispense(now: now)
    }

    /// The one place that commands a dispense: journal `dispensing`, then `DISPENSE`.
    private mutating func decideDispense(now: Date) -> [SessionEffect] {
        precondition(record.state == .paid, "dispense decided outside paid")
        if controllerWaiting, !denySent, !customerAborted, !dispenseCommanded, !invoiceMismatch {
            dispenseCommanded = true
            phase = .dispensing
            timers = [:]
            return [
                transition(to: .dispensing, now: now, event: "dispensing", detail: "dispense decided"),
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
        } else if customerAborted {
            why = "paid after the customer aborted"
        } else if denySent {
            why = "paid after the controller was told the vend is over"
        } else {
            why = "paid while no controller waits for the vend"
        }
        // A controller still waiting (mismatch, abort) is answered: no sale.
        return end(
            .refundDue, now: now, event: "refund_due", note: why, deny: .error,
            screen: .refundDue(tradeNo: record.tradeNo))
    }

    private mutating func transition(to state: SessionState, now: Date, event: String, detail: String)
        -> SessionEffect
    {
        record.state = state
        record.updatedAt = now
        return .persist(record, event: event, detail: detail)
    }

    /// Moves to a final state: journal it, answer the controller if it still waits, finish.
    private mutating func end(
        _ state: SessionState, now: Date, event: String, note: String?, deny: DenyReason? = nil,
        screen: ScreenIntent? = nil
    ) -> [SessionEffect] {
        precondition(state.isFinal)
        if let note { record.note = note }
        phase = .ended
        timers = [:]
        var effects: [SessionEffect] = [.stopPolling, transition(to: state, now: now, event: event, detail: note ?? state.rawValue)]
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
