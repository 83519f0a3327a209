import DripPayModels
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A walk of `GET /invoices` looking for one trade_no of one machine: the pages read so far and
/// where to go on. A value, so that a walk cut short by its request budget is resumed where it
/// stopped (`DripPayClient.findInvoices(resuming:)`), and pure (fed pages, no I/O), so that its
/// rules are tested by feeding pages:
///
/// - The list's order is read from the first page (newest first, oldest first, or none).
/// - Newest first: pages from the first until one holds an invoice created before the horizon
///   (the session's `created_at` less the skew allowance) or the list ends; any number of pages.
///   Oldest first: from the last page backwards until the same. No order: every page.
/// - Offsets shift when invoices are deleted between two reads (DripPay soft-deletes cancelled
///   ones): after a read whose `meta.total` is lower than the last read's by `d`, the walk goes
///   on from `ceil(d / perPage)` pages back (walking from the end of an oldest-first list, the
///   shift only moves invoices onto pages not yet read). An invoice seen twice counts once (by
///   reference). A list that keeps shrinking is bounded by the caller's request budget.
public struct TradeNoLookup: Hashable, Sendable {
    /// Page size asked for (the API's maximum).
    static let perPage = 100

    public let tradeNo: TradeNo
    public let machineID: String
    /// Invoices created before this are older than the session: the walk may stop there.
    public let cutoff: Date
    /// List requests this walk has made, over every resume.
    public private(set) var requests = 0
    /// The next page to read; nil when the walk is complete.
    public private(set) var nextPage: Int? = 1
    var order: DripPayClient.ListOrder?
    var lastTotal: Int?
    var lastPage = 1
    /// Matches by reference, with their position (page, index) in a newest-first reading.
    var matches: [InvoiceReference: (invoice: Invoice, page: Int, index: Int)] = [:]

    public init(tradeNo: TradeNo, machineID: String, since: Date, skew: TimeInterval = DripPayClient.lookupClockSkew) {
        self.tradeNo = tradeNo
        self.machineID = machineID
        self.cutoff = since.addingTimeInterval(-skew)
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.tradeNo == b.tradeNo && a.machineID == b.machineID && a.cutoff == b.cutoff && a.requests == b.requests
            && a.nextPage == b.nextPage && Set(a.matches.keys) == Set(b.matches.keys)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(tradeNo)
        hasher.combine(requests)
        hasher.combine(nextPage)
    }

    /// Whether every page that may hold the trade_no was read.
    public var isComplete: Bool { nextPage == nil }

    /// The matches, oldest first (by `created_at`; list order within a second).
    public var matchesOldestFirst: [Invoice] {
        let listedOldestFirst = order == .oldestFirst
        return matches.values.sorted { a, b in
            if a.invoice.createdAt.date != b.invoice.createdAt.date {
                return a.invoice.createdAt.date < b.invoice.createdAt.date
            }
            // Same second: the later position in a newest-first list (or a list of no order,
            // read like Laravel's latest()) is the older invoice.
            let positionA = (a.page, a.index)
            let positionB = (b.page, b.index)
            return listedOldestFirst ? positionA < positionB : positionA > positionB
        }.map(\.invoice)
    }

    /// Takes one page read (`page`) and decides the next.
    ///
    /// - Throws: `LookupUnreadable` when the page holds this machine's invoice for the trade_no
    ///   but it did not decode: neither "found" nor "not found" is true (the page still counts as
    ///   a request; the walk is not moved on, so a retry reads the page again).
    public mutating func read(page: Int, _ result: InvoicePage) throws(LookupUnreadable) {
        if let ours = result.skipped.first(where: { $0.tradeNo == tradeNo.rawValue && $0.machineID == machineID }) {
            requests += 1
            throw LookupUnreadable(tradeNo: tradeNo, invoice: ours)
        }
        requests += 1
        for (index, invoice) in result.data.enumerated()
        where invoice.tradeNo == tradeNo && invoice.machineID == machineID {
            matches[invoice.reference] = (invoice, page, index)
        }
        let shrunk = lastTotal.map { result.meta.total < $0 } ?? false
        let drop = (lastTotal ?? result.meta.total) - result.meta.total
        lastTotal = result.meta.total
        lastPage = max(1, result.meta.lastPage)
        if order == nil {
            order = DripPayClient.listOrder(result.data)
            guard lastPage > 1, !result.data.isEmpty else {
                nextPage = nil
                return
            }
            switch order {
            case .oldestFirst: nextPage = lastPage
            case .newestFirst: nextPage = result.data.contains { $0.createdAt.date < cutoff } ? nil : 2
            default: nextPage = 2
            }
            return
        }
        let reachesOlder = result.data.contains { $0.createdAt.date < cutoff }
        if shrunk, order != .oldestFirst {
            // `drop` invoices were deleted since the last read: the ones not yet read moved up to
            // `drop` places towards the front, maybe onto pages already read. Read again from far
            // enough back (an invoice seen twice counts once).
            let back = (drop + Self.perPage - 1) / Self.perPage
            nextPage = max(1, page - back)
            return
        }
        switch order {
        case .newestFirst?:
            nextPage = (reachesOlder || page >= lastPage || result.data.isEmpty) ? nil : page + 1
        case .oldestFirst?:
            // Walking back from the end: deletes move older invoices to pages not yet read.
            nextPage = (reachesOlder || page <= 1) ? nil : min(page - 1, lastPage)
        case .unknown?, nil:
            nextPage = (page >= lastPage || result.data.isEmpty) ? nil : page + 1
        }
    }
}

// MARK: Across restarts

extension TradeNoLookup {
    /// What a walk has read, as the journal keeps it across restarts (`trade_no_lookups`): where
    /// it stands and the references of the matches so far. The matches' invoices are read again
    /// by reference when the walk resumes (`init(resuming:matches:)`): their status may have
    /// changed meanwhile.
    public struct Progress: Codable, Hashable, Sendable {
        /// A match's reference and its place in the list when it was read.
        public struct Match: Codable, Hashable, Sendable {
            public var reference: String
            public var page: Int
            public var index: Int
        }

        public var tradeNo: String
        public var machineID: String
        /// The walk's horizon (`cutoff`), in milliseconds since 1970.
        public var cutoffMilliseconds: Int64
        public var requests: Int
        public var nextPage: Int?
        /// `newest`, `oldest`, `unknown`, or nil before the first page.
        public var order: String?
        public var lastTotal: Int?
        public var lastPage: Int
        public var matches: [Match]

        /// The text the journal keeps (JSON).
        public var text: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            guard let data = try? encoder.encode(self) else { return "" }
            return String(decoding: data, as: UTF8.self)
        }

        /// Reads `text` back; nil when it is not a progress this version wrote (the walk then
        /// starts from page 1: slower, never wrong).
        public init?(text: String) {
            guard let value = try? JSONDecoder().decode(Self.self, from: Data(text.utf8)) else { return nil }
            self = value
        }

        init(
            tradeNo: String, machineID: String, cutoffMilliseconds: Int64, requests: Int, nextPage: Int?,
            order: String?, lastTotal: Int?, lastPage: Int, matches: [Match]
        ) {
            self.tradeNo = tradeNo
            self.machineID = machineID
            self.cutoffMilliseconds = cutoffMilliseconds
            self.requests = requests
            self.nextPage = nextPage
            self.order = order
            self.lastTotal = lastTotal
            self.lastPage = lastPage
            self.matches = matches
        }
    }

    /// Where the walk stands, to keep across a restart.
    public var progress: Progress {
        let orderText: String?
        switch order {
        case .newestFirst?: orderText = "newest"
        case .oldestFirst?: orderText = "oldest"
        case .unknown?: orderText = "unknown"
        case nil: orderText = nil
        }
        return Progress(
            tradeNo: tradeNo.rawValue, machineID: machineID,
            cutoffMilliseconds: Int64((cutoff.timeIntervalSince1970 * 1000).rounded()), requests: requests,
            nextPage: nextPage, order: orderText, lastTotal: lastTotal, lastPage: lastPage,
            matches: matches.values.map {
                Progress.Match(reference: $0.invoice.reference.rawValue, page: $0.page, index: $0.index)
            }
            .sorted { ($0.page, $0.index) < ($1.page, $1.index) })
    }

    /// The walk `progress` describes, with the matches' invoices as read again by reference
    /// (`invoices`); a match whose invoice is not among them (gone: 404) is dropped.
    public init(resuming progress: Progress, matches invoices: [Invoice]) {
        self.tradeNo = TradeNo(progress.tradeNo)
        self.machineID = progress.machineID
        self.cutoff = Date(timeIntervalSince1970: TimeInterval(progress.cutoffMilliseconds) / 1000)
        self.requests = progress.requests
        self.nextPage = progress.nextPage
        switch progress.order {
        case "newest"?: order = .newestFirst
        case "oldest"?: order = .oldestFirst
        case "unknown"?: order = .unknown
        default: order = nil
        }
        self.lastTotal = progress.lastTotal
        self.lastPage = max(1, progress.lastPage)
        for match in progress.matches {
            guard let invoice = invoices.first(where: { $0.reference.rawValue == match.reference }) else { continue }
            matches[invoice.reference] = (invoice, match.page, match.index)
        }
    }
}
