import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KioskCore
import Logging

/// Waits for grants from a `RateBudget` on an injected clock. Requests wait for their turn
/// (a cancellable sleep until the computed instant) rather than failing.
actor RequestLimiter {
    private var budget: RateBudget
    private let now: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void

    init<C: Clock>(budget: RateBudget, clock: C) where C.Duration == Duration {
        self.budget = budget
        let origin = clock.now
        now = { origin.duration(to: clock.now) }
        sleepUntil = { try await clock.sleep(until: origin.advanced(by: $0), tolerance: nil) }
    }

    /// Waits for budget. Within `DripPayClient.$requestDeadline`, a wait that would end past the
    /// deadline is not started: it throws `rateLimited` at once (nothing was sent).
    func acquire(for endpoint: Endpoint) async throws {
        while true {
            let t = now()
            if budget.tryAcquire(now: t) { return }
            let next = budget.nextAllowed(now: t)
            if let deadline = DripPayClient.requestDeadline {
                let left = deadline.timeIntervalSinceNow
                let wait = next - t
                if Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18 > left {
                    let seconds = Int((Double(wait.components.seconds) + 0.999).rounded(.down))
                    throw DripPayError.rateLimited(endpoint, retryAfter: max(1, seconds))
                }
            }
            try await sleepUntil(next)
        }
    }

    func pause(retryAfter: Duration) { budget.pause(now: now(), retryAfter: retryAfter) }
}

/// The DripPay invoice API client. Knows nothing about vending.
///
/// Keeps itself under the API's rate limits with two budgets (status polls; everything else),
/// honours `Retry-After`, and maps every failure to a `DripPayError`.
public struct DripPayClient: Sendable {
    /// Requests made in a task with this deadline never wait for rate budget past it: they fail
    /// at once with `rateLimited` instead (a vend that cannot get its invoice in time is denied
    /// now, not after the machine gave up). Applies to every request of a `createReconciling`,
    /// its lookups included.
    @TaskLocal public static var requestDeadline: Date?

    /// `https://host/api/v1`, without a trailing slash.
    public let baseURL: String
    private let token: APIToken
    private let transport: any DripPayTransport
    private let requestTimeout: Duration
    let generalLimiter: RequestLimiter?
    private let statusLimiter: RequestLimiter?
    private let logger: Logger

    /// - Parameters:
    ///   - requestsPerMinute: budget for every endpoint but the status poll (API limit 60).
    ///   - statusRequestsPerMinute: budget for `GET /invoices/{reference}/status` (API limit 600).
    ///   - rateLimited: false only for benchmarks that measure the server: no client budgets.
    /// - Throws: `DripPayError.invalidBaseURL` for a non-URL or plain http:// to a non-loopback host.
    public init(
        baseURL: String, token: APIToken, requestTimeout: Duration, requestsPerMinute: Int = 60,
        statusRequestsPerMinute: Int = 600, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "drippay-kiosk.api"), clock: any Clock<Duration> = ContinuousClock(),
        rateLimited: Bool = true
    ) throws(DripPayError) {
        try self.init(
            baseURL: baseURL, token: token, requestTimeout: requestTimeout, requestsPerMinute: requestsPerMinute,
            statusRequestsPerMinute: statusRequestsPerMinute,
            transport: AsyncHTTPClientTransport(client: httpClient, logger: logger), logger: logger, clock: clock,
            rateLimited: rateLimited)
    }

    /// The same client over any transport (the benchmark measures the client with an in-memory one).
    public init(
        baseURL: String, token: APIToken, requestTimeout: Duration, requestsPerMinute: Int = 60,
        statusRequestsPerMinute: Int = 600, transport: any DripPayTransport,
        logger: Logger = Logger(label: "drippay-kiosk.api"), clock: any Clock<Duration> = ContinuousClock(),
        rateLimited: Bool = true
    ) throws(DripPayError) {
        self.baseURL = try Self.validate(baseURL: baseURL)
        self.token = token
        self.transport = transport
        self.requestTimeout = requestTimeout
        self.logger = logger
        if rateLimited {
            generalLimiter = Self.makeLimiter(limit: requestsPerMinute, clock: clock)
            statusLimiter = Self.makeLimiter(limit: statusRequestsPerMinute, clock: clock)
        } else {
            generalLimiter = nil
            statusLimiter = nil
        }
    }

    private static func makeLimiter<C: Clock>(limit: Int, clock: C) -> RequestLimiter where C.Duration == Duration {
        RequestLimiter(budget: RateBudget(limit: max(1, limit)), clock: clock)
    }

    /// HTTPS is required, except to loopback hosts (127.0.0.0/8, ::1, localhost).
    static func validate(baseURL: String) throws(DripPayError) -> String {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else { throw .invalidBaseURL(baseURL, reason: "not an absolute URL") }
        switch scheme {
        case "https": return url
        case "http":
            let h = host.lowercased().trimmingScalars(where: { $0 == "[" || $0 == "]" })
            let octets = h.split(separator: ".")
            let isLoopbackV4 = octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
            guard h == "localhost" || h == "::1" || isLoopbackV4 else {
                throw .invalidBaseURL(baseURL, reason: "plain http:// is allowed only to loopback hosts; use https://")
            }
            return url
        default:
            throw .invalidBaseURL(baseURL, reason: "scheme '\(scheme)' is not https")
        }
    }

    // MARK: Endpoints

    /// `GET /ping`: connectivity and the token's abilities.
    public func ping() async throws -> PingResponse {
        let e = Endpoint(method: "GET", path: "/ping")
        let answer = try await perform(e, limiter: generalLimiter, ability: nil)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in try PingResponse(json: n) }
    }

    /// `GET /invoices?page=&per_page=`: one page, newest first. `perPage` is at most 100.
    public func listInvoices(page: Int = 1, perPage: Int = 15) async throws -> InvoicePage {
        let e = Endpoint(method: "GET", path: "/invoices")
        let answer = try await perform(
            e, query: "page=\(max(1, page))&per_page=\(min(max(1, perPage), 100))", limiter: generalLimiter,
            ability: .listInvoice)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in try InvoicePage(json: n) }
    }

    /// `POST /invoices`. A failure with `outcomeUnknown` may have created the invoice: use
    /// `createReconciling` rather than calling this again.
    public func createInvoice(_ request: CreateInvoiceRequest) async throws -> Invoice {
        let e = Endpoint(method: "POST", path: "/invoices")
        let answer = try await perform(
            e, body: Array(request.jsonBody.utf8), limiter: generalLimiter, ability: .createInvoice)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in try Invoice(json: n.field("data")) }
    }

    /// `GET /invoices/{reference}`: details, with the payment once paid.
    public func invoice(_ reference: InvoiceReference) async throws -> Invoice {
        let e = Endpoint(method: "GET", path: "/invoices/\(Self.segment(reference))")
        let answer = try await perform(e, limiter: generalLimiter, ability: .viewInvoice)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in try Invoice(json: n.field("data")) }
    }

    /// `GET /invoices/{reference}/status`: the poll (its own, larger budget).
    public func status(_ reference: InvoiceReference) async throws -> InvoiceStatus {
        let e = Endpoint(method: "GET", path: "/invoices/\(Self.segment(reference))/status")
        let answer = try await perform(e, limiter: statusLimiter, ability: .viewInvoice)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in
            InvoiceStatus(apiValue: try n.string("status"))
        }
    }

    /// `DELETE /invoices/{reference}`: cancels (soft-deletes) a pending invoice.
    public func cancel(_ reference: InvoiceReference) async throws {
        let e = Endpoint(method: "DELETE", path: "/invoices/\(Self.segment(reference))")
        let answer = try await perform(e, limiter: generalLimiter, ability: .cancelInvoice)
        _ = try decode(e, answer.body) { (n) throws(DecodeFailure) in try n.string("message") }
    }

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
    public func findInvoices(tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = 10)
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
    public func findInvoice(tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = 10)
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
    public func reconcile(tradeNo: TradeNo, machineID: String, since: Date, maxRequests: Int = 10)
        async throws -> Invoice?
    {
        let matches = try await findInvoices(tradeNo: tradeNo, machineID: machineID, since: since, maxRequests: maxRequests)
        guard let keeper = Self.keeper(of: matches) else { return nil }
        try await cancelDuplicates(of: keeper, among: matches)
        return keeper
    }

    private func cancelDuplicates(of keeper: Invoice, among matches: [Invoice]) async throws {
        for duplicate in matches
        where duplicate.reference != keeper.reference && duplicate.status == .pending && duplicate.machineID == keeper.machineID {
            do {
                try await cancel(duplicate.reference)
                logger.warning(
                    "cancelled duplicate invoice",
                    metadata: ["trade_no": "\(keeper.tradeNo)", "reference": "\(duplicate.reference)",
                               "kept": "\(keeper.reference)"])
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
                            tradeNo: request.tradeNo, machineID: request.machineID, since: since, maxRequests: maxRequests)
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

    // MARK: Plumbing

    /// The reference as one path segment: RFC 3986 `pchar`s but `;` pass, every other UTF-8 byte is
    /// `%XX` (the set `CharacterSet.urlPathAllowed` less `/`: Foundation leaves out `;` too). A byte loop, because Foundation's
    /// percent-encoding was 6.5% of the daemon's CPU per status poll (perf, board-cost); a
    /// reference of allowed bytes only (every real one) is returned as it is.
    static func segment(_ reference: InvoiceReference) -> String {
        let raw = reference.rawValue
        func allowed(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "-._~!$&'()*+,=:@".utf8.contains(byte)
            }
        }
        if raw.utf8.allSatisfy(allowed) { return raw }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(raw.utf8.count * 3)
        for byte in raw.utf8 {
            if allowed(byte) {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func decode<T>(
        _ endpoint: Endpoint, _ body: [UInt8], _ read: (JSONNode) throws(DecodeFailure) -> T
    ) throws(DripPayError) -> T {
        do {
            return try read(try JSONNode.parse(body))
        } catch {
            throw .malformedResponse(endpoint, expected: error.expected)
        }
    }

    /// Waits for the budget, sends, and maps any non-2xx answer or transport failure.
    private func perform(
        _ endpoint: Endpoint, query: String? = nil, body: [UInt8]? = nil, limiter: RequestLimiter?,
        ability: Ability?
    ) async throws -> HTTPAnswer {
        try await limiter?.acquire(for: endpoint)
        var headers = [
            ("Accept", "application/json"), ("Authorization", "Bearer \(token.bearerValue)"),
            ("User-Agent", "drippay-kiosk"),
        ]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let url = baseURL + endpoint.path + (query.map { "?\($0)" } ?? "")
        let exchange = HTTPExchange(method: endpoint.method, url: url, headers: headers, body: body)
        let answer: HTTPAnswer
        do {
            answer = try await transport.send(exchange, timeout: requestTimeout)
        } catch TransportFailure.timeout {
            logger.warning("API request timed out", metadata: ["endpoint": "\(endpoint)"])
            throw DripPayError.timeout(endpoint, after: requestTimeout)
        } catch TransportFailure.connectionFailed(let detail) {
            logger.warning("API connection failed", metadata: ["endpoint": "\(endpoint)", "detail": "\(detail)"])
            throw DripPayError.connectionFailed(endpoint, detail: token.redact(detail))
        }
        logger.debug("API answered", metadata: ["endpoint": "\(endpoint)", "status": "\(answer.status)"])
        switch answer.status {
        case 200..<300:
            return answer
        case 401:
            throw DripPayError.unauthenticated(endpoint)
        case 403:
            throw DripPayError.forbidden(endpoint, ability: ability)
        case 404:
            throw DripPayError.notFound(endpoint)
        case 422:
            let error = LaravelError(bytes: answer.body)
            throw DripPayError.validation(endpoint, message: error.message ?? "validation failed", fields: error.fields)
        case 429:
            // Retry-After is whole seconds in Laravel; an HTTP date or nothing means a full minute.
            let seconds = answer.header("Retry-After").flatMap { Int($0.trimmingWhitespace()) } ?? 60
            await limiter?.pause(retryAfter: .seconds(max(1, seconds)))
            logger.warning("API rate limited", metadata: ["endpoint": "\(endpoint)", "retry_after": "\(seconds)"])
            throw DripPayError.rateLimited(endpoint, retryAfter: max(1, seconds))
        case 500..<600:
            throw DripPayError.server(endpoint, status: answer.status)
        default:
            throw DripPayError.unexpectedStatus(endpoint, status: answer.status)
        }
    }
}
