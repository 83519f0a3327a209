import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The DripPay API as the coordinator needs it. The real client (DripPayAPI) is adapted to it;
/// it owns rate limiting (a `status` call may wait for budget) and retries of idempotent reads.
public protocol InvoicePort: Sendable {
    /// `POST /invoices` with one item. Typed failures say whether an invoice may exist. No wait
    /// for rate budget (queue, 429 pause) may end past `offerBy`: fail at once instead.
    func createInvoice(
        tradeNo: TradeNo, description: String, price: Money, offerBy: Date
    )
        async throws(InvoiceCreateFailure) -> InvoiceInfo
    /// The same for a session created at `since` (its `created_at` in the journal): the lookup of
    /// a lost answer reads back to `since` less the clock-skew allowance, like `findInvoice`.
    /// By default the plain `createInvoice`.
    func createInvoice(
        tradeNo: TradeNo, description: String, price: Money, offerBy: Date, since: Date
    )
        async throws(InvoiceCreateFailure) -> InvoiceInfo
    /// Looks `trade_no` up in the invoice list (this machine's invoices only, created since about
    /// `since`, the session's start); nil when the list holds no such invoice. Throws when the
    /// list could not be read completely (then nothing is known).
    func findInvoice(tradeNo: TradeNo, since: Date) async throws -> InvoiceInfo?
    /// `GET /invoices/{reference}/status`. Throws `InvoiceNotFound` when the API answers 404:
    /// DripPay soft-deletes cancelled invoices, so our own reference answers 404 once cancelled.
    func status(of reference: InvoiceReference) async throws -> InvoiceStatus
    /// The re-check of a vend in progress (after a cancel, at the deadline): the invoice's status
    /// by a route that a throttled status route does not hold up (`GET /invoices/{reference}` on
    /// the API), so that a spent status window never keeps a session past the machine's patience.
    /// Same answers and errors as `status(of:)`, which is the default.
    func recheck(of reference: InvoiceReference) async throws -> InvoiceStatus
    /// `DELETE /invoices/{reference}`. A 404 means the invoice is already cancelled (soft-deleted):
    /// `.cancelled`. A refusal because the invoice is not pending (422): `.alreadyPaid` (the
    /// session re-checks the status before believing it).
    func cancel(_ reference: InvoiceReference) async -> CancelOutcome
}

/// The API answered 404 for an invoice reference this machine holds. DripPay cancels by soft
/// delete, so this means the invoice is cancelled and can no longer be paid. An adapter of
/// `InvoicePort.status(of:)` must throw this (not a generic error) for a 404, or a session whose
/// invoice was cancelled would re-check it for ever.
public struct InvoiceNotFound: Error, Hashable, Sendable, CustomStringConvertible {
    public let reference: InvoiceReference

    public init(reference: InvoiceReference) { self.reference = reference }

    public var description: String {
        "the API answered 404 for invoice \(reference): it was cancelled (soft-deleted) or never existed"
    }
}

/// The journal as the coordinator needs it (mirrors KioskJournal's API). Every call is durable
/// when it returns (but `appendEvent(durable: false)`); a throw means the write did not happen.
public protocol SessionStore: Sendable {
    /// A new trade number and the session `make` builds for it, with its first event: one
    /// transaction (the vend's first durable commit, before the create that sends the trade_no).
    func insertNew(
        now: Date, event: JournalEventKind, detail: String, _ make: (TradeNo) -> SessionRecord
    ) throws
        -> SessionRecord
    /// State changes written together in one transaction, in order (all or none).
    func update(steps: [(record: SessionRecord, event: JournalEventKind, detail: String)]) throws
    /// A note on a session, stamped `at` (the caller's injected clock). `durable: false`: a power
    /// cut may lose it (a process crash does not); only for notes recovery does not need.
    func appendEvent(tradeNo: TradeNo, event: JournalEventKind, detail: String, at: Date, durable: Bool) throws
    func openSessions() throws -> [SessionRecord]
    func latestSession(vendID: VendID) throws -> SessionRecord?
    /// A small durable write that fails whenever a session write would (full or read-only
    /// storage): the coordinator calls it while out of service to learn when writes work again.
    func probeWrite(at: Date) throws
}

extension SessionStore {
    /// One state change, durable on return.
    public func update(_ record: SessionRecord, event: JournalEventKind, detail: String) throws {
        try update(steps: [(record, event, detail)])
    }

    /// A note, durable on return.
    public func appendEvent(tradeNo: TradeNo, event: JournalEventKind, detail: String, at: Date) throws {
        try appendEvent(tradeNo: tradeNo, event: event, detail: detail, at: at, durable: true)
    }
}

/// Whether the journal can be written, as the coordinator last found it.
public enum JournalHealth: Hashable, Sendable {
    /// A write succeeded again after a failure.
    case writable
    /// A write failed; the text names the file and the OS error.
    case unwritable(String)
}

/// The serial link to the controller.
public protocol ControllerPort: Sendable {
    /// Writes one command; throws if the bytes could not be written.
    func send(_ command: ControllerCommand) async throws
}

/// The display.
public protocol ScreenPort: Sendable {
    func show(_ intent: ScreenIntent) async
    /// Tells the customer at the screen now up that the machine goes out of service after this
    /// vend; `notice` is the operator's reason (nil removes the notice). The same screen is
    /// drawn again: a pay screen keeps its code. The next `show` clears it.
    func showNotice(_ notice: String?) async
}

/// Renders the QR payload for an invoice (the config's `qr.payload` template).
public typealias QRPayloadRenderer = @Sendable (InvoiceInfo, TradeNo) -> String

/// The planogram: the invoice item description for a product code, nil when the machine does not sell it.
public typealias Planogram = @Sendable (ProductCode) -> String?

extension InvoicePort {
    public func createInvoice(
        tradeNo: TradeNo, description: String, price: Money, offerBy: Date, since: Date
    )
        async throws(InvoiceCreateFailure) -> InvoiceInfo
    {
        try await createInvoice(tradeNo: tradeNo, description: description, price: price, offerBy: offerBy)
    }

    public func recheck(of reference: InvoiceReference) async throws -> InvoiceStatus {
        try await status(of: reference)
    }
}
