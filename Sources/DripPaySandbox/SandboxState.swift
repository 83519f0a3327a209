import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One HTTP request as the sandbox sees it.
struct SandboxRequest: Sendable {
    var method: String
    /// Path without the query, e.g. `/api/v1/invoices`.
    var path: String
    var query: [String: String]
    var headers: [(String, String)]
    var body: [UInt8]

    init(method: String, uri: String, headers: [(String, String)], body: [UInt8]) {
        self.method = method
        self.headers = headers
        self.body = body
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts[0])
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = String(kv[0]).percentDecoded ?? String(kv[0])
                let value = kv.count == 2 ? (String(kv[1]).percentDecoded ?? String(kv[1])) : ""
                query[key] = value
            }
        }
        self.query = query
    }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// An answer, or a connection closed without one.
enum SandboxOutcome: Sendable {
    case respond(SandboxResponse)
    /// Close the connection without answering (a lost answer).
    case drop
}

/// One HTTP answer.
struct SandboxResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8]

    static func json(_ status: Int, _ value: JSON, headers: [(String, String)] = []) -> SandboxResponse {
        SandboxResponse(
            status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(value.text.utf8))
    }

    static func message(_ status: Int, _ text: String, headers: [(String, String)] = []) -> SandboxResponse {
        json(status, .object([("message", .string(text))]), headers: headers)
    }

    static func html(_ status: Int, _ text: String) -> SandboxResponse {
        SandboxResponse(status: status, headers: [("Content-Type", "text/html; charset=utf-8")], body: Array(text.utf8))
    }
}

/// A request the sandbox saw, for tests: `status` is nil when the connection was dropped unanswered.
public struct SandboxRequestRecord: Hashable, Sendable, CustomStringConvertible {
    public let method: String
    public let path: String
    public let status: Int?
    /// When the sandbox answered it (or dropped it); not part of a record's equality.
    public var at = Date()
    /// The query (`page`, `per_page` of a list read); not part of a record's equality.
    public var query: [String: String] = [:]
    /// The `page` a list read asked for (1 when it named none).
    public var page: Int { Int(query["page"] ?? "") ?? 1 }
    public var description: String { "\(method) \(path) -> \(status.map(String.init) ?? "dropped")" }

    public static func == (a: Self, b: Self) -> Bool { (a.method, a.path, a.status) == (b.method, b.path, b.status) }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(path)
        hasher.combine(status)
    }
}

/// An invoice as the sandbox stores it.
public struct SandboxInvoice: Hashable, Sendable {
    /// `pending`, `paid` or `cancelled`.
    public enum Status: String, Hashable, Sendable { case pending, paid, cancelled }

    /// One invoice line; `amount` in units of 10^-8 (the API's 8-decimal column).
    public struct Item: Hashable, Sendable {
        public let reference: String
        public let description: String
        public let amount: Int64
    }

    public let reference: String
    public let providerInvoiceID: String
    public let machineID: String
    public let tradeNo: String
    public let currency: String
    public let items: [Item]
    public internal(set) var status: Status
    /// Soft-deleted (cancelled): invisible to the API unless the sandbox shows cancelled invoices.
    public internal(set) var deleted: Bool
    public internal(set) var createdAt: Date
    public internal(set) var updatedAt: Date
    public internal(set) var paidAt: Date?
    /// Payment amount in satoshis, once paid.
    public internal(set) var paymentSats: Int64?
    let sequence: Int
    var autoPayAt: Date?

    /// The server's sum of the item amounts, rounded to the 2-decimal total column: cents.
    public var totalCents: Int64 {
        let sum = items.reduce(Int64(0)) { $0 + $1.amount }
        return (sum + 500_000) / 1_000_000
    }

    /// Pending or paid: counts for its trade_no.
    public var isLive: Bool { status != .cancelled }
}

/// Fault injection settings. One-shot faults count down as requests consume them.
struct Faults: Sendable {
    var latency: Duration?
    /// Extra delay for `POST /invoices` answers only (a slow create; the invoice is stored first).
    var createLatency: Duration?
    var serverErrors = 0
    var serverErrorStatus = 500
    var garbage = 0
    var rateLimitStorm = 0
    var rateLimitRetryAfter = 1
    var rateLimitStatusOnly = false
    var createFaults: [CreateFault] = []
    /// While set, every pending invoice reads as this word on the status and invoice routes, and
    /// a cancel of it answers 422 "Only pending invoices can be cancelled." (an `expired` quote).
    /// A payment still goes through and then reads `paid`.
    var statusWord: String?
    /// Invoices rendered malformed in lists (by reference): `provider_invoice_id: null`, a total
    /// of `"1.505"`, an unparseable `created_at`.
    var malformedReferences: Set<String> = []
    /// After each list read, this many of the newest live invoices of machines other than
    /// `deleteSparing` are cancelled (soft-deleted): offsets shift between two page reads.
    var deletesPerListRead = 0
    var deleteSparing = ""
    /// When set, only invoices of this machine are deleted by `deletesPerListRead`.
    var deleteOnly: String?
    /// A cancel soft-deletes (404 from then on) but leaves the invoice payable at the provider:
    /// a payment after it still marks it paid (visible again, reading `paid`).
    var softDeletedStillPayable = false
    /// The next this many API requests answer `301` to the same path on this origin under `/v2`
    /// (a moved API: the client must follow none).
    var redirects = 0
}

/// What happens to a coming `POST /invoices`.
public enum CreateFault: Hashable, Sendable {
    /// Store the invoice, then close the connection without answering.
    case dropAfterCommit
    /// Close the connection without answering and without storing anything.
    case dropBeforeCommit
    /// Store the invoice, then answer with this 5xx status.
    case serverErrorAfterCommit(status: Int)
    /// Store the invoice, then answer 201 with it malformed: `provider_invoice_id: null`, a
    /// total with three decimals (`"1.505"`), no payable code.
    case malformedAfterCommit
    /// Store the invoice, add `newer` pending invoices of `machineID` after it (a fleet on one
    /// account), then close the connection without answering.
    case dropAfterCommitBehind(newer: Int, machineID: String)
}

/// The sandbox's whole behaviour as a value: requests in, answers out, no I/O. The clock readings
/// come in with each request so the logic is deterministic.
struct SandboxState: Sendable {
    /// Token value -> abilities.
    var tokens: [String: Set<Ability>]
    var requestsPerMinute: Int
    var statusRequestsPerMinute: Int
    var throttleWindow: Duration
    var cancelledInvoicesVisible: Bool
    /// `http://127.0.0.1:PORT`, set once bound.
    var origin = "http://127.0.0.1"
    var invoices: [SandboxInvoice] = []
    var byReference: [String: Int] = [:]
    var requests: [SandboxRequestRecord] = []
    let maxRequestLog = 50_000
    var faults = Faults()
    var autoPayAfter: Duration?
    /// Strike-like quotes: the BOLT11 behind each invoice's QR image, re-issued every `quoteSeconds`.
    var quotes = QuoteBook()
    /// `GET /invoices` lists oldest first instead of newest first (the API promises no order).
    var listOldestFirst = false
    var autoPayQueue: [Int] = []
    var windows: [String: (start: Duration, count: Int)] = [:]
    var sequence = 0

    init(
        tokens: [String: Set<Ability>], requestsPerMinute: Int, statusRequestsPerMinute: Int,
        throttleWindow: Duration, cancelledInvoicesVisible: Bool
    ) {
        self.tokens = tokens
        self.requestsPerMinute = requestsPerMinute
        self.statusRequestsPerMinute = statusRequestsPerMinute
        self.throttleWindow = throttleWindow
        self.cancelledInvoicesVisible = cancelledInvoicesVisible
    }

    mutating func record(_ request: SandboxRequest, status: Int?) {
        if requests.count >= maxRequestLog { requests.removeFirst(requests.count / 2) }
        var record = SandboxRequestRecord(method: request.method, path: request.path, status: status)
        record.query = request.query
        requests.append(record)
    }

    // MARK: Payment

    /// Pays every invoice whose auto-pay time has come. Applied lazily before anything reads the
    /// invoices: the API offers no push, so nobody can tell it from a timer.
    mutating func settleAutoPay(now: Date) {
        guard !autoPayQueue.isEmpty else { return }
        var waiting: [Int] = []
        for index in autoPayQueue {
            if let due = invoices[index].autoPayAt, due <= now {
                _ = pay(index: index, at: due)
            } else {
                waiting.append(index)
            }
        }
        autoPayQueue = waiting
    }

    /// Marks a pending invoice paid. Returns its status afterwards.
    mutating func pay(index: Int, at now: Date) -> SandboxInvoice.Status {
        guard invoices[index].status == .pending, !invoices[index].deleted || faults.softDeletedStillPayable else {
            return invoices[index].status
        }
        // A payment of a soft-deleted one (the fault) restores it: the provider's webhook wins.
        invoices[index].deleted = false
        invoices[index].status = .paid
        invoices[index].paidAt = now
        invoices[index].updatedAt = now
        // A fixed sandbox rate: 1534 sats per unit of currency (the API document's example).
        invoices[index].paymentSats = (invoices[index].totalCents * 1534 + 99) / 100
        return .paid
    }

    mutating func pay(reference: String, now: Date) -> SandboxInvoice.Status? {
        settleAutoPay(now: now)
        guard let index = byReference[reference] else { return nil }
        return pay(index: index, at: now)
    }

    /// Appends `count` pending invoices of `machineID` created at `now`; their references.
    mutating func addInvoices(count: Int, machineID: String, now: Date) -> [String] {
        var references: [String] = []
        for n in 0..<max(0, count) {
            let invoice = SandboxInvoice(
                reference: UUID().uuidString.lowercased(), providerInvoiceID: UUID().uuidString.lowercased(),
                machineID: machineID, tradeNo: "OTHER-\(sequence)-\(n)", currency: "USD",
                items: [
                    SandboxInvoice.Item(
                        reference: UUID().uuidString.lowercased(), description: "Other", amount: 150_000_000)
                ],
                status: .pending, deleted: false, createdAt: now, updatedAt: now, paidAt: nil, paymentSats: nil,
                sequence: sequence, autoPayAt: nil)
            sequence += 1
            invoices.append(invoice)
            byReference[invoice.reference] = invoices.count - 1
            references.append(invoice.reference)
        }
        return references
    }
}
