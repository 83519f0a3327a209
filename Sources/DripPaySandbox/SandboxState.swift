#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KioskCore

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
    public var description: String { "\(method) \(path) -> \(status.map(String.init) ?? "dropped")" }
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
    var createFaults: [CreateFault] = []
}

/// What happens to a coming `POST /invoices`.
public enum CreateFault: Hashable, Sendable {
    /// Store the invoice, then close the connection without answering.
    case dropAfterCommit
    /// Close the connection without answering and without storing anything.
    case dropBeforeCommit
    /// Store the invoice, then answer with this 5xx status.
    case serverErrorAfterCommit(status: Int)
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
    private var autoPayQueue: [Int] = []
    private var windows: [String: (start: Duration, count: Int)] = [:]
    private var sequence = 0

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
        requests.append(SandboxRequestRecord(method: request.method, path: request.path, status: status))
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
        guard invoices[index].status == .pending, !invoices[index].deleted else { return invoices[index].status }
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

    // MARK: Requests

    mutating func handle(_ request: SandboxRequest, monotonic: Duration, now: Date) -> SandboxOutcome {
        settleAutoPay(now: now)
        let outcome = route(request, monotonic: monotonic, now: now)
        switch outcome {
        case .respond(let r): record(request, status: r.status)
        case .drop: record(request, status: nil)
        }
        return outcome
    }

    private mutating func route(_ request: SandboxRequest, monotonic: Duration, now: Date) -> SandboxOutcome {
        let path = request.path.hasSuffix("/") && request.path.count > 1 ? String(request.path.dropLast()) : request.path
        if path.hasPrefix("/pay/") { return .respond(payPage(reference: String(path.dropFirst(5)), now: now)) }
        if path.hasPrefix("/qr_codes/"), request.method == "GET" {
            return .respond(qrImage(request: request, name: String(path.dropFirst(10)), now: now))
        }
        if path.hasPrefix("/_sandbox/") { return .respond(admin(request, path: String(path.dropFirst(10)), now: now)) }
        guard path.hasPrefix("/api/v1/") else {
            return .respond(.message(404, "The route \(path.dropFirst()) could not be found."))
        }
        let segments = path.dropFirst(8).split(separator: "/").map(String.init)

        // Faults that strike before the application runs.
        if faults.garbage > 0 {
            faults.garbage -= 1
            return .respond(SandboxResponse(status: 200, headers: [("Content-Type", "application/json")],
                                            body: Array("<html>502 Bad Gateway</html>{\"stat".utf8)))
        }
        if faults.serverErrors > 0 {
            faults.serverErrors -= 1
            return .respond(.message(faults.serverErrorStatus, "Server Error"))
        }

        // auth:sanctum
        let auth = request.header("Authorization") ?? ""
        guard auth.hasPrefix("Bearer "), let abilities = tokens[String(auth.dropFirst(7))] else {
            return .respond(.message(401, "Unauthenticated."))
        }
        let token = String(auth.dropFirst(7))

        // Route table: (ability, handler); nil ability = any token.
        enum Route { case ping, list, create, show(String), status(String), cancel(String) }
        let route: Route
        let allowed: [String]
        switch segments.count {
        case 1 where segments[0] == "ping":
            allowed = ["GET", "HEAD"]
            route = .ping
        case 1 where segments[0] == "invoices":
            allowed = ["GET", "HEAD", "POST"]
            route = request.method == "POST" ? .create : .list
        case 2 where segments[0] == "invoices":
            allowed = ["GET", "HEAD", "DELETE"]
            route = request.method == "DELETE" ? .cancel(segments[1]) : .show(segments[1])
        case 3 where segments[0] == "invoices" && segments[2] == "status":
            allowed = ["GET", "HEAD"]
            route = .status(segments[1])
        default:
            return .respond(.message(404, "The route \(path.dropFirst()) could not be found."))
        }
        guard allowed.contains(request.method) else {
            return .respond(
                .message(405, "The \(request.method) method is not supported for route \(path.dropFirst()). "
                    + "Supported methods: \(allowed.joined(separator: ", ")).")
            )
        }

        // throttle: a fixed window per token, 600/min for the status poll, 60/min for the rest.
        let isStatus: Bool
        if case .status = route { isStatus = true } else { isStatus = false }
        if faults.rateLimitStorm > 0 {
            faults.rateLimitStorm -= 1
            let limit = isStatus ? statusRequestsPerMinute : requestsPerMinute
            return .respond(
                .message(
                    429, "Too Many Attempts.",
                    headers: [
                        ("Retry-After", "\(faults.rateLimitRetryAfter)"), ("X-RateLimit-Limit", "\(limit)"),
                        ("X-RateLimit-Remaining", "0"),
                    ]))
        }
        let (throttled, rateHeaders) = hit(
            key: token + (isStatus ? "|status" : "|api"),
            limit: isStatus ? statusRequestsPerMinute : requestsPerMinute, monotonic: monotonic)
        if throttled { return .respond(.message(429, "Too Many Attempts.", headers: rateHeaders)) }

        var outcome: SandboxOutcome
        func need(_ ability: Ability) -> Bool { abilities.contains(ability) }
        let forbidden = SandboxResponse.message(403, "Invalid ability provided.")
        switch route {
        case .ping:
            let labels = Ability.allCases.filter(need).map { JSON.string($0.label) }
            outcome = .respond(.json(200, .object([("message", .string("pong")), ("abilities", .array(labels))])))
        case .list:
            outcome = .respond(need(.listInvoice) ? list(request) : forbidden)
        case .create:
            outcome = need(.createInvoice) ? create(request, now: now) : .respond(forbidden)
        case .show(let reference):
            outcome = .respond(need(.viewInvoice) ? show(reference) : forbidden)
        case .status(let reference):
            outcome = .respond(need(.viewInvoice) ? status(reference) : forbidden)
        case .cancel(let reference):
            outcome = .respond(need(.cancelInvoice) ? cancel(reference, now: now) : forbidden)
        }
        if case .respond(var r) = outcome {
            r.headers += rateHeaders
            outcome = .respond(r)
        }
        return outcome
    }

    /// Laravel's fixed-window throttle: the window opens at its first hit and lasts `throttleWindow`.
    private mutating func hit(key: String, limit: Int, monotonic: Duration) -> (Bool, [(String, String)]) {
        var w = windows[key] ?? (start: monotonic, count: 0)
        if monotonic >= w.start + throttleWindow { w = (start: monotonic, count: 0) }
        if w.count >= limit {
            windows[key] = w
            let left = (w.start + throttleWindow) - monotonic
            let seconds = max(1, Int((left + .nanoseconds(999_999_999)).components.seconds))
            return (
                true,
                [("Retry-After", "\(seconds)"), ("X-RateLimit-Limit", "\(limit)"), ("X-RateLimit-Remaining", "0")]
            )
        }
        w.count += 1
        windows[key] = w
        return (false, [("X-RateLimit-Limit", "\(limit)"), ("X-RateLimit-Remaining", "\(limit - w.count)")])
    }

    private func visibleIndex(_ reference: String) -> Int? {
        guard let i = byReference[reference.lowercased()] else { return nil }
        return invoices[i].deleted && !cancelledInvoicesVisible ? nil : i
    }

    private func notFound(_ reference: String) -> SandboxResponse {
        .message(404, "No query results for model [App\\Models\\Invoice] \(reference)")
    }

    private func show(_ reference: String) -> SandboxResponse {
        guard let i = visibleIndex(reference) else { return notFound(reference) }
        return .json(200, .object([("data", invoiceJSON(invoices[i]))]))
    }

    private func status(_ reference: String) -> SandboxResponse {
        guard let i = visibleIndex(reference) else { return notFound(reference) }
        return .json(200, .object([("status", .string(invoices[i].status.rawValue))]))
    }

    private mutating func cancel(_ reference: String, now: Date) -> SandboxResponse {
        guard let i = visibleIndex(reference) else { return notFound(reference) }
        guard invoices[i].status == .pending else {
            return .message(422, "Only pending invoices can be cancelled.")
        }
        invoices[i].status = .cancelled
        invoices[i].deleted = true
        invoices[i].updatedAt = now
        return .message(200, "Invoice cancelled successfully.")
    }

    private func list(_ request: SandboxRequest) -> SandboxResponse {
        let page = max(1, Int(request.query["page"] ?? "") ?? 1)
        var perPage = Int(request.query["per_page"] ?? "") ?? 15
        if perPage < 1 { perPage = 15 }
        perPage = min(perPage, 100)
        // Newest first, like Eloquent's latest(): by creation, ties by insertion order (or oldest
        // first when asked: the API document promises no order).
        let ordered: [SandboxInvoice] = listOldestFirst ? invoices : invoices.reversed()
        let visible = ordered.filter { !$0.deleted || cancelledInvoicesVisible }
        let total = visible.count
        let lastPage = max(1, (total + perPage - 1) / perPage)
        let start = (page - 1) * perPage
        let slice = start < total ? Array(visible[start..<min(total, start + perPage)]) : []
        let url = { (p: Int) in JSON.string("\(origin)/api/v1/invoices?page=\(p)") }
        return .json(
            200,
            .object([
                ("data", .array(slice.map(invoiceJSON))),
                (
                    "links",
                    .object([
                        ("first", url(1)), ("last", url(lastPage)), ("prev", page > 1 ? url(page - 1) : .null),
                        ("next", page < lastPage ? url(page + 1) : .null),
                    ])
                ),
                (
                    "meta",
                    .object([
                        ("current_page", .number("\(page)")),
                        ("from", slice.isEmpty ? .null : .number("\(start + 1)")),
                        ("last_page", .number("\(lastPage)")),
                        ("path", .string("\(origin)/api/v1/invoices")),
                        ("per_page", .number("\(perPage)")),
                        ("to", slice.isEmpty ? .null : .number("\(start + slice.count)")),
                        ("total", .number("\(total)")),
                    ])
                ),
            ]))
    }

    // MARK: Create

    private mutating func create(_ request: SandboxRequest, now: Date) -> SandboxOutcome {
        let body = (try? JSON.parse(request.body)) ?? .object([])
        var errors: [(String, [String])] = []
        func fail(_ field: String, _ message: String) { errors.append((field, [message])) }
        func requiredString(_ field: String, max: Int) -> String? {
            let name = field.replacingAll("_", with: " ")
            switch body[field] {
            case .string(let s) where !s.trimmingWhitespace().isEmpty:
                if s.count > max { fail(field, "The \(name) field must not be greater than \(max) characters.") }
                return s
            case nil, .null?, .string?: fail(field, "The \(name) field is required.")
            default: fail(field, "The \(name) field must be a string.")
            }
            return nil
        }
        let machineID = requiredString("machine_id", max: 255)
        let tradeNo = requiredString("trade_no", max: 255)
        let currency = requiredString("currency", max: 255)
        if let currency, currency.count != 3 {
            errors.removeAll { $0.0 == "currency" }
            fail("currency", "The currency field must be 3 characters.")
        }
        var items: [(String, Int64)] = []
        switch body["items"] {
        case .array(let list) where !list.isEmpty:
            for (i, item) in list.enumerated() {
                var description: String?
                switch item["description"] {
                case .string(let s) where !s.isEmpty:
                    if s.count > 255 {
                        fail("items.\(i).description", "The items.\(i).description field must not be greater than 255 characters.")
                    }
                    description = s
                case nil, .null?, .string?: fail("items.\(i).description", "The items.\(i).description field is required.")
                default: fail("items.\(i).description", "The items.\(i).description field must be a string.")
                }
                var amount: Int64?
                switch item["amount"] {
                case .number(let n), .string(let n):
                    if n.isEmpty {
                        fail("items.\(i).amount", "The items.\(i).amount field is required.")
                    } else if let units = Self.decimalUnits(n) {
                        if units < 1_000_000 {
                            fail("items.\(i).amount", "The items.\(i).amount field must be at least 0.01.")
                        } else {
                            amount = units
                        }
                    } else {
                        fail("items.\(i).amount", "The items.\(i).amount field must be a number.")
                    }
                case nil, .null?: fail("items.\(i).amount", "The items.\(i).amount field is required.")
                default: fail("items.\(i).amount", "The items.\(i).amount field must be a number.")
                }
                if let description, let amount { items.append((description, amount)) }
            }
        case .array?: fail("items", "The items field must have at least 1 items.")
        case nil, .null?: fail("items", "The items field is required.")
        default: fail("items", "The items field must be an array.")
        }
        if !errors.isEmpty {
            let first = errors[0].1[0]
            let more = errors.count - 1
            let message = more == 0 ? first : "\(first) (and \(more) more error\(more == 1 ? "" : "s"))"
            return .respond(
                .json(
                    422,
                    .object([
                        ("message", .string(message)),
                        ("errors", .object(errors.map { ($0.0, .array($0.1.map(JSON.string))) })),
                    ])))
        }

        let fault = faults.createFaults.isEmpty ? nil : faults.createFaults.removeFirst()
        if fault == .dropBeforeCommit { return .drop }
        let invoice = SandboxInvoice(
            reference: UUID().uuidString.lowercased(), providerInvoiceID: UUID().uuidString.lowercased(),
            machineID: machineID!, tradeNo: tradeNo!, currency: currency!.uppercased(),
            items: items.map { SandboxInvoice.Item(reference: UUID().uuidString.lowercased(), description: $0.0, amount: $0.1) },
            status: .pending, deleted: false, createdAt: now, updatedAt: now, paidAt: nil, paymentSats: nil,
            sequence: sequence, autoPayAt: autoPayAfter.map { now.addingTimeInterval(Self.seconds($0)) })
        sequence += 1
        invoices.append(invoice)
        byReference[invoice.reference] = invoices.count - 1
        if invoice.autoPayAt != nil { autoPayQueue.append(invoices.count - 1) }
        switch fault {
        case .dropAfterCommit?: return .drop
        case .serverErrorAfterCommit(let status)?: return .respond(.message(status, "Server Error"))
        default: return .respond(.json(201, .object([("data", invoiceJSON(invoice))])))
        }
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        TimeInterval(d.components.seconds) + TimeInterval(d.components.attoseconds) / 1e18
    }

    /// A non-negative plain decimal (`1`, `1.5`, `"0.10"`) in units of 10^-8, rounded half up
    /// to 8 places like the API's decimal column; nil when not a plain decimal or negative.
    /// Negative amounts come back as 0 so that they fail the minimum rule, as in Laravel.
    static func decimalUnits(_ text: String) -> Int64? {
        var t = Substring(text.trimmingWhitespace())
        var negative = false
        if t.hasPrefix("-") { negative = true; t = t.dropFirst() }
        let parts = t.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let isDigits: (Substring) -> Bool = { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard isDigits(parts[0]), parts.count == 1 || isDigits(parts[1]), parts[0].count <= 10 else { return nil }
        if negative { return 0 }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        var roundUp = false
        if fraction.count > 8 {
            roundUp = fraction[fraction.index(fraction.startIndex, offsetBy: 8)] >= "5"
            fraction = String(fraction.prefix(8))
        }
        fraction += String(repeating: "0", count: 8 - fraction.count)
        guard let whole = Int64(parts[0]), let frac = Int64(fraction) else { return nil }
        return whole * 100_000_000 + frac + (roundUp ? 1 : 0)
    }

    // MARK: Rendering

    static func decimal(_ value: Int64, places: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let frac = String(value % scale)
        return "\(value / scale).\(String(repeating: "0", count: places - frac.count))\(frac)"
    }

    /// `2025-10-27T20:12:23+00:00`, as Laravel's toIso8601String() writes UTC.
    static func iso8601(_ date: Date) -> String {
        let total = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = total >= 0 ? total / 86400 : (total - 86399) / 86400
        let secs = total - days * 86400
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60))+00:00"
    }

    func invoiceJSON(_ invoice: SandboxInvoice) -> JSON {
        let created = JSON.string(Self.iso8601(invoice.createdAt))
        var payment = JSON.null
        if invoice.status == .paid, let sats = invoice.paymentSats, let paidAt = invoice.paidAt {
            payment = .object([
                ("amount", .string(Self.decimal(sats, places: 8))), ("currency", .string("BTC")),
                ("status", .string("PAID")), ("status_label", .string("Paid")),
                ("completed_at", .string(Self.iso8601(paidAt))),
            ])
        }
        return .object([
            ("reference", .string(invoice.reference)),
            ("provider", .string("strike")),
            ("provider_account_username", .string("sandbox")),
            ("provider_invoice_id", .string(invoice.providerInvoiceID)),
            ("machine_id", .string(invoice.machineID)),
            ("trade_no", .string(invoice.tradeNo)),
            ("currency", .string(invoice.currency)),
            ("total", .string(Self.decimal(invoice.totalCents, places: 2))),
            ("status", .string(invoice.status.rawValue)),
            ("status_label", .string(invoice.status.rawValue.capitalized)),
            ("qr_code_image_url", .string("\(origin)/qr_codes/\(invoice.providerInvoiceID).webp")),
            (
                "items",
                .array(
                    invoice.items.map {
                        .object([
                            ("reference", .string($0.reference)), ("description", .string($0.description)),
                            ("amount", .string(Self.decimal($0.amount, places: 8))), ("created_at", created),
                        ])
                    })
            ),
            ("payment", payment),
            ("created_at", created),
            ("updated_at", .string(Self.iso8601(invoice.updatedAt))),
        ])
    }

    // MARK: Pay page and admin

    private mutating func payPage(reference: String, now: Date) -> SandboxResponse {
        func page(_ status: Int, _ title: String, _ text: String) -> SandboxResponse {
            .html(
                status,
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(title)</title></head>"
                    + "<body><h1>\(title)</h1><p>\(text)</p></body></html>")
        }
        guard let i = byReference[reference.lowercased()] else {
            return page(404, "Unknown invoice", "The sandbox has no invoice \(reference).")
        }
        let before = invoices[i].status
        switch pay(index: i, at: now) {
        case .paid where before == .pending:
            return page(
                200, "Paid", "Invoice \(reference) (\(Self.decimal(invoices[i].totalCents, places: 2)) \(invoices[i].currency)) is now paid.")
        case .paid: return page(200, "Already paid", "Invoice \(reference) was already paid.")
        default: return page(410, "Cancelled", "Invoice \(reference) was cancelled and cannot be paid.")
        }
    }

    private mutating func admin(_ request: SandboxRequest, path: String, now: Date) -> SandboxResponse {
        let q = request.query
        let count = Int(q["count"] ?? "") ?? 1
        switch (request.method, path) {
        case ("GET", "invoices"):
            return .json(
                200,
                .array(
                    invoices.map {
                        .object([
                            ("reference", .string($0.reference)), ("trade_no", .string($0.tradeNo)),
                            ("status", .string($0.status.rawValue)), ("deleted", .bool($0.deleted)),
                        ])
                    }))
        case ("GET", "requests"):
            return .json(200, .array(requests.suffix(1000).map { .string($0.description) }))
        case ("POST", let p) where p.hasPrefix("invoices/") && p.hasSuffix("/pay"):
            let reference = String(p.dropFirst(9).dropLast(4))
            guard let status = pay(reference: reference, now: now) else { return .message(404, "No such invoice.") }
            return .message(200, "Invoice is \(status.rawValue).")
        case ("POST", "wallet/pay"):
            return walletResponse(walletPay(scanned: String(decoding: request.body, as: UTF8.self), now: now))
        case ("POST", "faults/server-errors"):
            faults.serverErrors = count
            faults.serverErrorStatus = Int(q["status"] ?? "") ?? 500
            return .message(200, "The next \(count) API requests fail with \(faults.serverErrorStatus).")
        case ("POST", "faults/garbage"):
            faults.garbage = count
            return .message(200, "The next \(count) API requests answer garbage.")
        case ("POST", "faults/rate-limit"):
            faults.rateLimitStorm = count
            faults.rateLimitRetryAfter = Int(q["retry_after"] ?? "") ?? 1
            return .message(200, "The next \(count) API requests answer 429.")
        case ("POST", "faults/latency"):
            let ms = Int(q["ms"] ?? "") ?? 0
            faults.latency = ms > 0 ? .milliseconds(ms) : nil
            return .message(200, "Latency \(ms) ms.")
        case ("POST", "faults/create-latency"):
            let ms = Int(q["ms"] ?? "") ?? 0
            faults.createLatency = ms > 0 ? .milliseconds(ms) : nil
            return .message(200, "Create latency \(ms) ms.")
        case ("POST", "list-order"):
            listOldestFirst = q["order"] == "oldest-first"
            return .message(200, listOldestFirst ? "Lists oldest first." : "Lists newest first.")
        case ("POST", "faults/drop-next-create"):
            faults.createFaults.append(q["commit"] == "0" ? .dropBeforeCommit : .dropAfterCommit)
            return .message(200, "The next create is dropped.")
        case ("POST", "auto-pay"):
            let ms = Int(q["after_ms"] ?? "")
            autoPayAfter = ms.map { .milliseconds($0) }
            return .message(200, ms.map { "New invoices are paid after \($0) ms." } ?? "Auto-pay off.")
        default:
            return .message(404, "Unknown sandbox admin endpoint \(request.method) /_sandbox/\(path).")
        }
    }
}
