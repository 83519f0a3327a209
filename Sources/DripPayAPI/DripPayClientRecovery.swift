import AsyncHTTPClient
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

    /// Every invoice of this machine with this trade_no. trade_nos are unique per machine only,
    /// so another machine's invoice is never returned (nor, by the callers, ever cancelled).
    ///
    /// The API promises no order for its list, so the walk follows the order it sees: newest
    /// first, pages from the first until one holds an invoice created before `since` (less
    /// `lookupClockSkew`); oldest first, pages from the last backwards until the same; no order,
    /// every page. At most `maxRequests` list requests; a walk that cannot reach invoices older
    /// than the session within them throws `LookupIncomplete` (never "not found": an invoice may
    /// sit on a page not read). The matches come back oldest first (list order within a second).
    public func findInvoices(
        tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = 10
    )
        async throws -> [Invoice]
    {
        let cutoff = since.addingTimeInterval(-Self.lookupClockSkew)
        var pages: [Int: [Invoice]] = [:]
        var requests = 0
        func read(_ page: Int) async throws -> InvoicePage {
            guard requests < maxRequests else {
                throw LookupIncomplete(tradeNo: tradeNo, machineID: machineID, requests: requests, since: cutoff)
            }
            requests += 1
            let result = try await listInvoices(page: page, perPage: 100)
            pages[page] = result.data.filter { $0.tradeNo == tradeNo && $0.machineID == machineID }
            return result
        }
        func oldestFirst(_ order: ListOrder) -> [Invoice] {
            switch order {
            case .newestFirst: return pages.keys.sorted(by: >).flatMap { pages[$0, default: []].reversed() }
            case .oldestFirst: return pages.keys.sorted().flatMap { pages[$0, default: []] }
            case .unknown:
                // By creation time; invoices of the same second (the API's resolution) in the
                // order Laravel's latest() would give, newest first, reversed.
                return pages.keys.sorted(by: >).flatMap { pages[$0, default: []].reversed() }.enumerated()
                    .sorted { ($0.element.createdAt.date, $0.offset) < ($1.element.createdAt.date, $1.offset) }
                    .map(\.element)
            }
        }
        func reachesOlder(_ page: InvoicePage) -> Bool { page.data.contains { $0.createdAt.date < cutoff } }

        let first = try await read(1)
        let lastPage = first.meta.lastPage
        let order = Self.listOrder(first.data)
        guard lastPage > 1, !first.data.isEmpty else { return oldestFirst(order) }
        switch order {
        case .newestFirst:
            var page = 1
            var current = first
            while !reachesOlder(current), page < lastPage {
                page += 1
                current = try await read(page)
                if current.data.isEmpty { break }
            }
        case .oldestFirst:
            var page = lastPage
            while page > 1 {
                let current = try await read(page)
                if reachesOlder(current) { break }
                page -= 1
            }
        case .unknown:
            for page in 2...lastPage {
                if try await read(page).data.isEmpty { break }
            }
        }
        return oldestFirst(order)
    }

    enum ListOrder { case newestFirst, oldestFirst, unknown }

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
    /// oldest live one (pending or unknown status), else nil.
    public func findInvoice(
        tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = 10
    )
        async throws -> Invoice?
    {
        Self.keeper(
            of: try await findInvoices(tradeNo: tradeNo, machineID: machineID, since: since, maxRequests: maxRequests))
    }

    /// Among invoices of one trade_no, oldest first (as `findInvoices` returns them), the one to
    /// keep: the oldest paid, else the oldest live.
    static func keeper(of oldestFirst: [Invoice]) -> Invoice? {
        if let paid = oldestFirst.first(where: { $0.status == .paid }) { return paid }
        return oldestFirst.first(where: { $0.status.isLive })
    }

    /// Finds the invoice standing for this trade_no on this machine and cancels every other
    /// pending one of this machine with the same trade_no. Returns nil when there is none.
    public func reconcile(
        tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = 10
    )
        async throws -> Invoice?
    {
        let matches = try await findInvoices(
            tradeNo: tradeNo, machineID: machineID, since: since, maxRequests: maxRequests)
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
    /// - Throws: the create's own error when the lookup fails or attempts run out; its
    ///   `outcomeUnknown` then says the invoice may exist — call again later (it looks up first
    ///   only after a lost answer; for crash recovery call `reconcile(tradeNo:)` first).
    public func createReconciling(
        _ request: CreateInvoiceRequest, since: Date = Date(), maxRequests: Int = 10, maxAttempts: Int = 2
    ) async throws -> Invoice {
        var attempt = 0
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
                    logger.error(
                        "trade_no lookup failed; the create's outcome is unknown",
                        metadata: ["trade_no": "\(request.tradeNo)", "error": "\(error)"])
                    throw createError
                }
                if let found { return found }
                if attempt >= maxAttempts { throw createError }
            }
        }
    }
}
