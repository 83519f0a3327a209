import KioskCore
import Testing

@Suite("Journal event kinds")
struct JournalEventKindTests {
    /// The spellings journals in the field already hold (`session_events.kind`). A renamed raw value
    /// would make old rows unreadable as their kind; a new kind is added, never renamed.
    static let stored: Set<String> = [
        "requested", "invoice_created", "invoice_found", "paid", "dispensing", "dispensed", "dispense_unknown",
        "cancelling", "cancelled", "failed", "refund_due", "dispense_sent", "qr_shown", "cancel_pending",
        "cancel_confirmed", "cancel_refused_paid", "cancel_not_effective", "create_outcome_unknown",
        "lookup_failed", "poll_failed", "recheck_failed", "unknown_status", "invoice_gone", "total_mismatch",
        "offer_too_late", "offer_deadline", "aborted", "ignored", "duplicate_vend", "controller_gone",
        "reclaimed", "reclaim_mismatch", "resumed", "recovering", "shutdown", "send_failed",
        "journal_write_failed", "unresolved", "late_payment_watch",
    ]

    @Test func everyStoredSpellingIsAKindAndBack() {
        #expect(Set(JournalEventKind.allCases.map(\.rawValue)) == Self.stored)
        for raw in Self.stored { #expect(JournalEventKind(rawValue: raw)?.rawValue == raw) }
    }

    @Test func logsAndMessagesShowTheStoredSpelling() {
        #expect("\(JournalEventKind.invoiceCreated)" == "invoice_created")
        #expect(JournalEventKind.refundDue.description == "refund_due")
    }

    @Test func everySessionStateHasTheKindOfItsName() {
        // A state change is journalled with the kind of the state it enters (but `invoiced`,
        // which says how the invoice came: created or found).
        for state in SessionState.allCases where state != .invoiced {
            #expect(JournalEventKind(rawValue: state.rawValue) != nil, "no kind for state \(state.rawValue)")
        }
    }
}
