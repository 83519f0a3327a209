import KioskCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Finding a vend's invoice again by its trade_no after a crash (the create's outcome unknown),
/// and creating an invoice so that a retried create never leaves two payable invoices.
extension DripPayClient {
    // MARK: Recovery by trade_no

    /// How far the API's `created_at` may lag our clock (a board without RTC, server skew): a
    /// lookup reads back to this much before the session began.
    public static let lookupClockSkew: TimeInterval = 600

    /// List requests one try of a lookup makes at most (`maxRequests`' default): a walk not done
    /// within them goes on at the session's next try (docs/money-safety.md, "The budget in numbers").
    public static let lookupPagesPerTry = 10

    /// Every invoice of this machine with this trade_no. trade_nos are unique per machine only,
    /// so another machine's invoice is never returned (nor, by the callers, ever cancelled).
    ///
    /// The walk (`TradeNoLookup`) follows the order the list is in, reads as many pages as it
    /// takes to pass invoices created before `since` less `lookupClockSkew` (any number of newer
    /// invoices of other machines), and steps back when invoices were deleted between two page
    /// reads (offsets shift). At most `maxRequests` list requests per call: a walk not finished
    /// within them throws `LookupIncomplete` carrying the walk, which `resuming:` continues
    /// (never "not found": an invoice may sit on a page not read). The matches come back oldest
    /// first (list order within a second).
    public func findInvoices(
        tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = DripPayClient.lookupPagesPerTry,
        resuming: TradeNoLookup? = nil
    )
        async throws -> [Invoice]
    {
        var lookup =
            resuming ?? TradeNoLookup(tradeNo: tradeNo, machineID: machineID, since: since)
        var requests = 0
        while let page = lookup.nextPage {
            guard requests < maxRequests else {
                throw LookupIncomplete(
                    tradeNo: tradeNo, machineID: machineID, requests: lookup.requests, since: lookup.cutoff,
                    lookup: lookup)
            }
            requests += 1
            let result = try await listInvoices(page: page, perPage: TradeNoLookup.perPage)
            // Our own invoice unreadable: neither "found" nor "not found" is true (throws).
            try lookup.read(page: page, result)
        }
        return lookup.matchesOldestFirst
    }

    enum ListOrder { case newestFirst, oldestFirst, unknown }

    /// A create answered 2xx with a reference but an unusable invoice: the caller cancels it by
    /// that reference (it exists), whatever an earlier attempt did.
    static func isUnusableInvoice(_ error: any Error) -> Bool {
        if case .unusableInvoice? = error as? DripPayError { return true }
        return false
    }

    /// The order a page of the list is in, by `created_at`.
    static func listOrder(_ invoices: [Invoice]) -> ListOrder {
        let dates = invoices.map(\.createdAt.date)
        let descending = zip(dates, dates.dropFirst()).allSatisfy { $0 >= $1 }
        let ascending = zip(dates, dates.dropFirst()).allSatisfy { $0 <= $1 }
        if descending && !ascending { return .newestFirst }
        if ascending && !descending { return .oldestFirst }
        return .unknown
    }

    /// The invoice that stands for this trade_no on this machine: a paid one if any, else the
    /// oldest pending one, else the oldest not cancelled (a not-payable word), else nil.
    public func findInvoice(
        tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = DripPayClient.lookupPagesPerTry,
        resuming: TradeNoLookup? = nil
    )
        async throws -> Invoice?
    {
        Self.keeper(
            of: try await findInvoices(
                tradeNo: tradeNo, machineID: machineID, since: since, maxRequests: maxRequests, resuming: resuming))
    }

    /// Among invoices of one trade_no, oldest first (as `findInvoices` returns them), the one to
    /// keep: the oldest paid, else the oldest pending, else the oldest not cancelled.
    static func keeper(of oldestFirst: [Invoice]) -> Invoice? {
        if let paid = oldestFirst.first(where: { $0.status == .paid }) { return paid }
        if let pending = oldestFirst.first(where: { $0.status == .pending }) { return pending }
        return oldestFirst.first(where: { $0.status.isLive })
    }

    /// Finds the invoice standing for this trade_no on this machine and cancels every other
    /// pending one of this machine with the same trade_no. Returns nil when there is none.
    public func reconcile(
        tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = DripPayClient.lookupPagesPerTry,
        resuming: TradeNoLookup? = nil
    )
        async throws -> Invoice?
    {
        let matches = try await findInvoices(
            tradeNo: tradeNo, machineID: machineID, since: since, maxRequests: maxRequests, resuming: resuming)
        guard let keeper = Self.keeper(of: matches) else { return nil }
        try await cancelDuplicates(of: keeper, among: matches)
        return keeper
    }

    func cancelDuplicates(of keeper: Invoice, among matches: [Invoice]) async throws {
        for duplicate in matches
        where duplicate.reference != keeper.reference && duplicate.status == .pending
            && duplicate.machineID == keeper.machineID
        {
            do {
                try await cancel(duplicate.reference)
                logger.warning(
                    "cancelled duplicate invoice",
                    metadata: [
                        "trade_no": "\(keeper.tradeNo)", "reference": "\(duplicate.reference)",
                        "kept": "\(keeper.reference)",
                    ])
            } catch DripPayError.notFound {
                continue  // already cancelled
            }
        }
    }

    /// Creates an invoice; a create whose answer was lost (timeout, connection dropped, 5xx) is
    /// reconciled, not repeated blindly: the trade_no is looked up in the invoice list; if found,
    /// that invoice is used (and any other pending one with the same trade_no cancelled); only if
    /// absent is the create sent again (up to `maxAttempts` in all). After such a repeat, a
    /// late-committing earlier create is swept up by one more lookup.
    ///
    /// A lookup that read its `maxRequests` pages without finishing is passed to
    /// `onIncompleteLookup` (to be resumed with `findInvoices(resuming:)`).
    ///
    /// - Throws: the create's own error when the lookup fails or attempts run out; after a lost
    ///   answer, the lost create's error whatever the repeat answered. Its
    ///   `outcomeUnknown` then says the invoice may exist — call again later (it looks up first
    ///   only after a lost answer; for crash recovery call `reconcile(tradeNo:)` first).
    public func createReconciling(
        _ request: CreateInvoiceRequest, since: Date = Date(), maxRequests: Int = DripPayClient.lookupPagesPerTry,
        maxAttempts: Int = 2, onIncompleteLookup: @Sendable (TradeNoLookup) -> Void = { _ in }
    ) async throws -> Invoice {
        var attempt = 0
        // Once a create's answer was lost, an invoice may exist whatever a later attempt answers:
        // a repeat that fails "cleanly" (429, refused, local budget, 422) must not end the vend as
        // if nothing was created, or the first invoice would be left pending for ever.
        var lost: DripPayError?
        while true {
            attempt += 1
            do {
                let created = try await createInvoice(request)
                if attempt > 1 {
                    do {
                        let matches = try await findInvoices(
                            tradeNo: request.tradeNo, machineID: request.machineID, since: since,
                            maxRequests: maxRequests)
                        try await cancelDuplicates(of: created, among: matches)
                    } catch {
                        logger.warning(
                            "duplicate sweep after a repeated create failed",
                            metadata: ["trade_no": "\(request.tradeNo)", "error": "\(error)"])
                    }
                }
                return created
            } catch let createError as DripPayError where createError.outcomeUnknown {
                logger.warning(
                    "create answer lost; looking the trade_no up",
                    metadata: ["trade_no": "\(request.tradeNo)", "error": "\(createError)"])
                let found: Invoice?
                do {
                    found = try await reconcile(
                        tradeNo: request.tradeNo, machineID: request.machineID, since: since, maxRequests: maxRequests)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // A walk cut short by its budget is handed on: the session's lookup goes on
                    // from its page instead of reading page 1 again.
                    if let incomplete = error as? LookupIncomplete { onIncompleteLookup(incomplete.lookup) }
                    logger.error(
                        "trade_no lookup failed; the create's outcome is unknown",
                        metadata: ["trade_no": "\(request.tradeNo)", "error": "\(error)"])
                    throw createError
                }
                if let found { return found }
                lost = lost ?? createError
                if attempt >= maxAttempts { throw createError }
            } catch let error
                where lost != nil && !(error is CancellationError) && !Self.isUnusableInvoice(error)
            {
                if let lost { throw lost }
                throw error
            }
        }
    }
}
