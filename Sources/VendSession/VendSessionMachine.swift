import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The vend-session state machine: events in, ordered effects out. No I/O and no clock reads;
/// `now` comes with every event. Every money-safety rule (docs/money-safety.md) lives here:
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
///    our reference (`invoiceGone`: cancelled invoices are soft-deleted) confirms a cancel (with
///    `policy.latePaymentWatch`, the status is then re-read for a while: the provider may still
///    take a payment of a soft-deleted invoice); while awaiting payment it starts a cancel and
///    re-check, never ends the vend by itself.
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
        /// `invoiced`: the cancel was confirmed only by a 404 (soft-deleted); the controller was
        /// released as for a cancel, and the status is re-read until `watchUntil` for a late
        /// payment (`policy.latePaymentWatch`).
        case watching
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
        /// The API gave a status other than pending, paid or cancelled (`expired`, ...).
        case notPayable = "not payable"

        var denyReason: DenyReason {
            switch self {
            case .timeout, .unclaimed: return .timeout
            case .aborted: return .aborted
            case .mismatch, .gone, .notPayable: return .error
            }
        }
    }

    public internal(set) var record: SessionRecord
    public let policy: SessionPolicy
    public internal(set) var phase: Phase
    /// The controller waits for an answer about this vend (a fresh request or a re-claim).
    public internal(set) var controllerWaiting: Bool
    /// A `DENY` for this vend went out; the controller was released, so no dispense may follow.
    public internal(set) var denySent = false
    /// The customer pressed abort; no dispense may follow.
    public internal(set) var customerAborted = false
    /// The one `DISPENSE` of this session has been produced.
    public internal(set) var dispenseCommanded = false
    /// Until when a re-claim is awaited when the controller is not waiting.
    public internal(set) var claimDeadline: Date?
    /// Why the invoice is being cancelled, once a cancel started.
    public internal(set) var cancelCause: CancelCause?
    /// Timers the machine asked for and still honours; a stale fire is ignored.
    public internal(set) var timers: [SessionTimer: Date] = [:]
    var retryAttempt = 0
    /// The API's invoice total differs from the vend price: never dispense against it.
    public internal(set) var invoiceMismatch = false
    /// Consecutive failed status reads (for notes; the coordinator owns the poll back-off).
    public internal(set) var pollFailures = 0
    /// Retries of settling steps (cancel, re-check, lookup) in this run: never reset, so that a
    /// cancel that "succeeds" and a re-check that says pending cannot loop for ever.
    public internal(set) var settleRetries = 0
    /// The last not-payable status word journaled: an unknown word is journaled once per change.
    public internal(set) var lastNotPayableWord: String?
    /// When the VEND the controller now waits on arrived (the request, or its re-claim): no
    /// `DISPENSE` after `policy.machineTimeout` from it. Nil after a restart until a re-claim.
    public internal(set) var vendArrivedAt: Date?
    /// The end of the late-payment watch, once one began (`Phase.watching`).
    public internal(set) var watchUntil: Date?

    /// A machine for a fresh request, already journaled as `requested`. Feed it `.start`.
    public init(newSession record: SessionRecord, policy: SessionPolicy) {
        self.record = record
        self.policy = policy
        self.phase = .creating
        self.controllerWaiting = true
        self.vendArrivedAt = record.createdAt
    }

    init(recovered record: SessionRecord, policy: SessionPolicy, phase: Phase) {
        self.record = record
        self.policy = policy
        self.phase = phase
        self.controllerWaiting = false
    }

    /// Whether the session awaits an API answer or a re-claim; false once it is final.
    public var isOpen: Bool { phase != .ended }

    // MARK: Events

    /// Applies one event at wall time `now` and returns the effects to run, in order, their
    /// journal writes joined into commits (`joiningCommits`).
    public mutating func handle(_ event: SessionEvent, now: Date) -> [SessionEffect] {
        Self.joiningCommits(react(to: event, now: now))
    }

    mutating func react(to event: SessionEvent, now: Date) -> [SessionEffect] {
        // A failed commit is answered even by a machine that just ended (its final commit failed).
        if case .commitFailed(let steps, let rest) = event { return commitFailed(steps, unexecuted: rest) }
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
                    .failed, now: now, event: .failed,
                    note: "no time left to offer an invoice before the machine's timeout",
                    deny: .unavailable, screen: .cancelled(reason: .unavailable))
            }
            return [.createInvoice] + schedule(.offerDeadline, at: offerBy)
        case .invoiceCreated(let info, let payload):
            guard phase == .creating else {
                return [.log(event: .ignored, detail: "invoice created answer while \(phase)")]
            }
            return adoptInvoice(info, qrPayload: payload, now: now, how: .invoiceCreated)
        case .invoiceCreateFailed(let failure):
            guard phase == .creating else { return [] }
            return createFailed(failure, now: now)
        case .invoiceFound(let info, let payload):
            guard phase == .lookingUp else { return [] }
            retryAttempt = 0
            return adoptInvoice(info, qrPayload: payload, now: now, how: .invoiceFound)
        case .invoiceNotFound:
            guard phase == .lookingUp else { return [] }
            return end(
                .failed, now: now, event: .failed, note: "no invoice was created for this trade_no",
                deny: .unavailable, screen: .cancelled(reason: .unavailable))
        case .lookupFailed(let message):
            guard phase == .lookingUp else { return [] }
            var effects: [SessionEffect] = [.log(event: .lookupFailed, detail: message)]
            // Do not keep the controller waiting on an API that does not answer; keep looking,
            // within the settling budget.
            effects += releaseController(.unavailable, screen: .cancelled(reason: .unavailable))
            effects += retryOrGiveUp(note: "trade_no lookup failed: \(message)", now: now)
            return effects
        case .statusPolled(let status):
            return statusPolled(status, now: now)
        case .pollFailed(let message):
            return pollFailed(message, now: now)
        case .statusRechecked(let status):
            return statusRechecked(status, now: now)
        case .recheckFailed(let message):
            return recheckFailed(message, now: now)
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
                return [.log(event: .ignored, detail: "DISPENSED while \(phase)")]
            }
            return end(.dispensed, now: now, event: .dispensed, note: nil, screen: .idle)
        case .controllerDispenseFailed(let reason):
            guard phase == .dispensing else {
                return [.log(event: .ignored, detail: "FAILED \(reason) while \(phase)")]
            }
            return end(
                .refundDue, now: now, event: .refundDue, note: "dispense failed: \(reason)",
                screen: .refundDue(tradeNo: record.tradeNo))
        case .controllerGone(let reason):
            return controllerGone(reason, now: now)
        case .controllerReclaimed(let request):
            return reclaimed(request, now: now)
        case .cancelAnswered(let outcome):
            return cancelAnswered(outcome, now: now)
        case .dispenseSent:
            return phase == .dispensing ? [.log(event: .dispenseSent, detail: "DISPENSE written")] : []
        case .dispenseSendFailed(let message):
            guard phase == .dispensing else { return [] }
            // The line never went out, so nothing was released; the payment must be refunded.
            return end(
                .refundDue, now: now, event: .refundDue,
                note: "the DISPENSE command could not be written: \(message)",
                screen: .refundDue(tradeNo: record.tradeNo))
        case .dispenseSendIncomplete(let message):
            guard phase == .dispensing else { return [] }
            // Part of the line went out: the machine may have it. Never retried, never refunded blindly.
            return end(
                .dispenseUnknown, now: now, event: .dispenseUnknown,
                note: "the DISPENSE write stopped part way; outcome unknown, never dispensed again: \(message)",
                screen: .refundDue(tradeNo: record.tradeNo))
        case .commitFailed:
            return []  // answered above
        }
    }

    /// The daemon is stopping and the controller cannot re-claim this vend after the restart
    /// (its protocol has no vend ids: qibixx-mdb). An invoice awaiting payment is cancelled now,
    /// with the usual re-check (a payment that won the race becomes refund due); the controller,
    /// if it still waits, is released. A session without an invoice yet is left to recovery,
    /// which looks its trade_no up and cancels what it finds.
    public mutating func abandonForShutdown(now: Date) -> [SessionEffect] {
        guard phase == .awaitingPayment else { return [] }
        var effects: [SessionEffect] = [.log(event: .shutdown, detail: "cannot be re-claimed after a restart")]
        effects += releaseController(.unavailable, screen: ServiceState.shuttingDown.screen)
        controllerWaiting = false
        claimDeadline = nil
        return effects + beginCancel(.unclaimed, now: now)
    }
}
