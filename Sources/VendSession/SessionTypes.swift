import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Timing rules of a vend session. Plain values; the coordinator turns them into sleeps on its
/// injected clock and the state machine into deadlines relative to the `now` it is given.
public struct SessionPolicy: Hashable, Sendable {
    /// How long a QR stays up before the vend is cancelled (`vend.payment_timeout_s`).
    public var paymentTimeout: Duration
    /// How long an open session waits to be re-claimed by the controller after a restart or
    /// after the controller went away (`vend.resume_grace_s`).
    public var resumeGrace: Duration
    /// The shortest pause between two status polls of one invoice. The API client owns the real
    /// rate limiter; this floor only keeps a fast fake or a cached answer from spinning.
    public var pollFloor: Duration
    /// The longest pause between polls while the API keeps failing.
    public var pollBackoffMax: Duration
    /// First pause before retrying a cancel, lookup or status re-check that could not reach the API.
    public var retryInitial: Duration
    /// The longest pause between such retries (back-off doubles up to this).
    public var retryMax: Duration
    /// How long a result screen (cancelled) stays up before the idle screen returns.
    public var resultScreenTime: Duration
    /// How long the refund notice (refund due, dispense unknown, unresolved) stays up: the customer needs
    /// time to note the reference and the contact (`[support] notice_s`).
    public var refundNoticeTime: Duration
    /// The machine's own patience for a vend request (`controller.machine_timeout_s`), if known:
    /// the QR must come down `machineTimeoutMargin` before the machine gives up.
    public var machineTimeout: Duration?
    public var machineTimeoutMargin: Duration
    /// The least time a customer needs to scan and pay. An invoice that cannot be up at least
    /// this long before the deadline is not offered: the vend is denied instead.
    public var minimumPaymentWindow: Duration
    /// How many retries (cancel, status re-check, trade_no lookup) one session may need before it
    /// ends `unresolved`; counted per run of the daemon, never reset by a step that succeeded.
    public var settleRetries: Int
    /// How long after the session's `created_at` (from the journal) a failed settling step is still
    /// retried; past it, the next failure ends the session `unresolved` (after a restart too).
    public var settleWithin: Duration
    /// A `DISPENSE` is never written later than this before `machineTimeout` after the VEND's
    /// arrival: time for the journal commit and the write itself.
    public var dispenseMargin: Duration
    /// How long after a cancel confirmed only by a 404 the invoice's status is still re-read for a
    /// late payment (`vend.late_payment_watch_s`). DripPay soft-deletes a cancelled invoice (404
    /// from then on), but the provider may still take a payment of the quote the customer holds;
    /// a payment read within the watch is a payment (refund due once the controller was
    /// released). Zero ends the session `cancelled` at the 404, as before.
    public var latePaymentWatch: Duration

    public init(
        paymentTimeout: Duration = .seconds(90), resumeGrace: Duration = .seconds(15),
        pollFloor: Duration = .milliseconds(100), pollBackoffMax: Duration = .seconds(5),
        retryInitial: Duration = .seconds(1), retryMax: Duration = .seconds(60),
        resultScreenTime: Duration = .seconds(5), machineTimeout: Duration? = nil,
        machineTimeoutMargin: Duration = .seconds(5), minimumPaymentWindow: Duration = .seconds(15),
        settleRetries: Int = 10, settleWithin: Duration = .seconds(900), dispenseMargin: Duration = .seconds(2),
        refundNoticeTime: Duration = .seconds(30), latePaymentWatch: Duration = .zero
    ) {
        self.latePaymentWatch = latePaymentWatch
        self.settleRetries = settleRetries
        self.settleWithin = settleWithin
        self.dispenseMargin = dispenseMargin
        self.refundNoticeTime = refundNoticeTime
        self.machineTimeout = machineTimeout
        self.machineTimeoutMargin = machineTimeoutMargin
        self.minimumPaymentWindow = minimumPaymentWindow
        self.paymentTimeout = paymentTimeout
        self.resumeGrace = resumeGrace
        self.pollFloor = pollFloor
        self.pollBackoffMax = pollBackoffMax
        self.retryInitial = retryInitial
        self.retryMax = retryMax
        self.resultScreenTime = resultScreenTime
    }

    /// How long the QR may stay up, counted from the VEND's arrival: the payment timeout, but
    /// never past the machine's own timeout minus the margin.
    public var paymentWindow: Duration {
        guard let machine = machineTimeout else { return paymentTimeout }
        return max(.zero, min(paymentTimeout, machine - machineTimeoutMargin))
    }

    /// The payment deadline of a vend that arrived at `arrival` (create retries, lookups,
    /// rate-limit waits and 429 pauses all count against it).
    public func paymentDeadline(vendArrivedAt arrival: Date) -> Date { arrival.adding(paymentWindow) }

    /// The latest time an invoice may be shown for a vend that arrived at `arrival`: later, the
    /// customer would have less than the minimum window (at most half the window) to pay.
    public func offerDeadline(vendArrivedAt arrival: Date) -> Date {
        let window = paymentWindow
        return arrival.adding(window - min(minimumPaymentWindow, window / 2))
    }

    /// Back-off for the `attempt`-th retry (1-based): `retryInitial * 2^(attempt-1)`, capped.
    public func retryDelay(attempt: Int) -> Duration {
        Backoff(initial: min(retryInitial, retryMax), maximum: retryMax).delay(afterFailures: attempt)
    }
}

/// What the session needs to know about one invoice at the API.
public struct InvoiceInfo: Hashable, Sendable {
    public var reference: InvoiceReference
    public var providerInvoiceID: String?
    /// The server's total (sum of item amounts); must equal the vend price.
    public var total: Money
    public var qrCodeImageURL: String?
    public var status: InvoiceStatus

    public init(
        reference: InvoiceReference, providerInvoiceID: String?, total: Money, qrCodeImageURL: String?,
        status: InvoiceStatus = .pending
    ) {
        self.reference = reference
        self.providerInvoiceID = providerInvoiceID
        self.total = total
        self.qrCodeImageURL = qrCodeImageURL
        self.status = status
    }
}

/// Why `POST /invoices` did not give an invoice. The three cases need different handling:
/// only `outcomeUnknown` may have created an invoice.
public enum InvoiceCreateFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The API answered and refused (422 validation, 401/403 token). Nothing was created.
    /// `requestInvalid` is true when the request itself was wrong (422): the controller is told `invalid`.
    case rejected(message: String, requestInvalid: Bool)
    /// The API could not be reached and the request certainly did not arrive (connect refused,
    /// DNS, 429/503 before processing). Nothing was created.
    case unavailable(message: String)
    /// The request may have reached the API but no answer came (timeout after sending, dropped
    /// connection). An invoice may exist under the trade_no.
    case outcomeUnknown(message: String)
    /// The API created the invoice `reference` but its answer is not usable (no payable code, a
    /// total or currency that is not the vend's exact price): it is cancelled by that reference
    /// and the vend denied; it is never offered.
    case unusable(reference: InvoiceReference, message: String)

    public var description: String {
        switch self {
        case .rejected(let message, let invalid):
            return "the API refused to create the invoice\(invalid ? " (invalid request)" : ""): \(message)"
        case .unavailable(let message): return "the API is unavailable, no invoice was created: \(message)"
        case .outcomeUnknown(let message):
            return "the invoice create got no answer, an invoice may exist (looking it up by trade_no): \(message)"
        case .unusable(let reference, let message):
            return "the API created invoice \(reference) but its answer is not usable (cancelling it): \(message)"
        }
    }
}

/// What a `DELETE /invoices/{reference}` achieved.
public enum CancelOutcome: Hashable, Sendable {
    /// The invoice is cancelled (or already was).
    case cancelled
    /// The API refused because the invoice is already paid: the cancel lost the race.
    case alreadyPaid
    /// The API refused (not pending) and a status read after the refusal said this word
    /// (`expired`, `failed`, ...): the invoice cannot be paid and cannot be cancelled.
    case notPayable(String)
    /// The cancel did not reach the API or the API failed; the invoice may still be payable.
    case failed(String)
}

/// What the display should show. The display module renders it.
public enum ScreenIntent: Hashable, Sendable {
    /// Nothing to pay: the idle screen.
    case idle
    /// The QR code for an invoice, with the product, the price and the deadline for the countdown.
    case pay(qrPayload: String, product: String, price: Money, deadline: Date)
    /// Paid; the product is being released.
    case paid(product: String)
    /// The vend ended without a sale; `reason` is what the controller was told (`DENY`).
    case cancelled(reason: DenyReason)
    /// Paid but the product could not be released: the customer is told the payment will be
    /// refunded, with a reference derived from the trade_no and whom to ask.
    case refundDue(tradeNo: TradeNo)
    /// Paid and dispensing commanded, but whether the product came out is unknown: the customer
    /// is told a payment for nothing will be refunded, with the same reference and contact.
    case dispenseUnknown(tradeNo: TradeNo)
    /// The API could not tell within the settling budget whether the invoice was paid: the
    /// customer is told a payment, if any, will be refunded, with the same reference and contact.
    case unresolved(tradeNo: TradeNo)
    /// The daemon cannot take payments now.
    case outOfService(reason: String)
}

/// Timers a session asks for. At most one of each kind is pending per session; a later request
/// replaces the earlier one.
public enum SessionTimer: Hashable, Sendable, CaseIterable {
    /// The invoice's payment deadline: cancel if still unpaid.
    case paymentDeadline
    /// The end of the resume grace: an unclaimed session is cancelled (unpaid) or becomes refund due (paid).
    case claimGrace
    /// A retry of a cancel, lookup or status re-check that could not reach the API.
    case retry
    /// The last moment an invoice can still be offered to a waiting controller (`offerDeadline`):
    /// a create or lookup still running then is denied, and settled in the background.
    case offerDeadline
}

/// Something that happened to a session: from the controller, the API, the coordinator's timers.
public enum SessionEvent: Hashable, Sendable {
    /// A fresh request, already journaled as `requested`: create the invoice.
    case start
    /// `POST /invoices` answered; `qrPayload` is the rendered QR text for it.
    case invoiceCreated(InvoiceInfo, qrPayload: String)
    case invoiceCreateFailed(InvoiceCreateFailure)
    /// A trade_no lookup found the invoice (with its current status).
    case invoiceFound(InvoiceInfo, qrPayload: String)
    /// A trade_no lookup read the invoice list and found nothing: no invoice was created.
    case invoiceNotFound
    /// A trade_no lookup could not reach the API.
    case lookupFailed(String)
    /// A status poll answered. It may have been sent before a cancel began: while cancelling it
    /// counts only when it says `paid`.
    case statusPolled(InvoiceStatus)
    /// A status poll could not reach the API or got a bad answer.
    case pollFailed(String)
    /// The status read asked by `checkStatus` (after the cancel answered) answered.
    case statusRechecked(InvoiceStatus)
    /// The status read asked by `checkStatus` failed.
    case recheckFailed(String)
    /// A status read answered 404 (`InvoiceNotFound`): the invoice is cancelled (soft-deleted).
    case invoiceGone
    /// A timer the session asked for has fired.
    case timerFired(SessionTimer)
    /// The customer cancelled at the machine (`ABORT`).
    case controllerAborted
    /// The controller reported the product came out (`DISPENSED`).
    case controllerDispensed
    /// The controller reported dispensing failed (`FAILED`).
    case controllerDispenseFailed(reason: String)
    /// The controller is no longer waiting: link down, `HELLO` (restart) or peripheral disabled.
    case controllerGone(reason: String)
    /// The controller sent `VEND` again with this session's vend id.
    case controllerReclaimed(VendRequest)
    /// `DELETE /invoices/{reference}` answered.
    case cancelAnswered(CancelOutcome)
    /// The `DISPENSE` command was written to the controller.
    case dispenseSent
    /// The `DISPENSE` command could not be written; none of its bytes left the board.
    case dispenseSendFailed(String)
    /// The `DISPENSE` write failed after some of its bytes left the board: the machine may act on it.
    case dispenseSendIncomplete(String)
    /// A commit this machine emitted was not written; `unexecuted`: the effects after it, which
    /// did not run either.
    case commitFailed([CommitStep], unexecuted: [SessionEffect])
}

/// One state change in a commit: the record as it is after it, and the event row that says why.
public struct CommitStep: Hashable, Sendable {
    public var record: SessionRecord
    public var event: JournalEventKind
    public var detail: String

    public init(record: SessionRecord, event: JournalEventKind, detail: String) {
        self.record = record
        self.event = event
        self.detail = detail
    }
}

/// What the session asks its executor to do, in order. A `commit` must be durable before the
/// executor runs the next effect: that is how "journal the decision before DISPENSE" holds.
public enum SessionEffect: Hashable, Sendable {
    /// Write these state changes (records and event rows) to the journal in one transaction, all
    /// or none; stop if this fails and report it back (`SessionEvent.commitFailed`). The machine
    /// decides what one commit holds (`VendSessionMachine.joiningCommits`).
    case commit([CommitStep])
    /// Add an event row to the journal without changing the record.
    case log(event: JournalEventKind, detail: String)
    case createInvoice
    case lookupInvoice(TradeNo)
    case startPolling(InvoiceReference)
    case stopPolling
    case cancelInvoice(InvoiceReference)
    /// One status read (after a cancel) whose answer comes back as `statusRechecked`/`recheckFailed`.
    case checkStatus(InvoiceReference)
    /// One read of the late-payment watch, on the status route (`InvoicePort.status(of:)`): the
    /// answer comes back as `statusRechecked`, `invoiceGone` or `recheckFailed`.
    case watchStatus(InvoiceReference)
    case startTimer(SessionTimer, at: Date)
    case show(ScreenIntent)
    case send(ControllerCommand)
    /// The session reached a final state; the executor forgets it.
    case finished(SessionState)
}
