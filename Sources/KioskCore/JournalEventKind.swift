/// The kind of a journal event: one spelling in the code, the `session_events.kind` column, the
/// logs and the export. The raw values are what journals already hold; never change one (old
/// journals must still read), add a case instead.
public enum JournalEventKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// The stored spelling, so that logs and messages show what the journal holds.
    public var description: String { rawValue }

    // A session's states, in the order a vend passes them.
    case requested
    case invoiceCreated = "invoice_created"
    case invoiceFound = "invoice_found"
    case paid
    case dispensing
    case dispensed
    case dispenseUnknown = "dispense_unknown"
    case cancelling
    case cancelled
    case failed
    case refundDue = "refund_due"
    case unresolved

    // Notes on a session that do not change its state.
    case dispenseSent = "dispense_sent"
    case qrShown = "qr_shown"
    case cancelPending = "cancel_pending"
    case cancelConfirmed = "cancel_confirmed"
    case cancelRefusedPaid = "cancel_refused_paid"
    case cancelNotEffective = "cancel_not_effective"
    case createOutcomeUnknown = "create_outcome_unknown"
    case lookupFailed = "lookup_failed"
    case pollFailed = "poll_failed"
    case recheckFailed = "recheck_failed"
    case unknownStatus = "unknown_status"
    case invoiceGone = "invoice_gone"
    case totalMismatch = "total_mismatch"
    case offerTooLate = "offer_too_late"
    case offerDeadline = "offer_deadline"
    case aborted
    case ignored
    case duplicateVend = "duplicate_vend"
    case controllerGone = "controller_gone"
    case reclaimed
    case reclaimMismatch = "reclaim_mismatch"
    case resumed
    case recovering
    case shutdown
    case sendFailed = "send_failed"
    case journalWriteFailed = "journal_write_failed"
    /// The cancel was confirmed only by a 404 (soft-deleted): the status is re-read for a late payment.
    case latePaymentWatch = "late_payment_watch"
}
