import KioskCore
import Logging
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The DripPay invoice API client. Knows nothing about vending.
///
/// Keeps itself under the API's rate limits with two budgets (status polls; everything else),
/// honours `Retry-After`, and maps every failure to a `DripPayError`.
public struct DripPayClient: Sendable {
    /// Requests made in a task with this deadline never wait for rate budget past it: they fail
    /// at once with `budgetRefused` instead (a vend that cannot get its invoice in time is denied
    /// now, not after the machine gave up). Applies to every request of a `createReconciling`,
    /// its lookups included.
    @TaskLocal public static var requestDeadline: Date?

    /// The longest `Retry-After` honoured: a 429 asking for more pauses this long (logged).
    public static let retryAfterCap = 60

    /// `https://host/api/v1`, without a trailing slash.
    public let baseURL: String
    let token: APIToken
    let transport: any DripPayTransport
    let requestTimeout: Duration
    let generalLimiter: RequestLimiter?
    let statusLimiter: RequestLimiter?
    let logger: Logger
    private let lastAnswer = LastAnswer()

    /// When the API last answered a request of this client with success: the token worked then,
    /// so a health check within a while of it need not spend the budget on `/ping`.
    public var lastSuccessfulAnswer: ContinuousClock.Instant? { lastAnswer.instant.withLock { $0 } }

    /// Shared by the copies of a client (it is a value).
    private final class LastAnswer: Sendable {
        let instant = Mutex<ContinuousClock.Instant?>(nil)
    }
    /// Malformed invoices of list pages: each logged once, all counted (a metric reads the count).
    public let skippedInvoices = SkippedInvoiceLog()

    /// - Parameters:
    ///   - requestsPerMinute: budget for every endpoint but the status poll (API limit 60).
    ///   - statusRequestsPerMinute: budget for `GET /invoices/{reference}/status` (API limit 600).
    ///   - transport: nil for a `CurlTransport` of its own (the token only to `baseURL`'s origin);
    ///     the benchmark measures the client with an in-memory one.
    ///   - rateLimited: false only for benchmarks that measure the server: no client budgets.
    /// - Throws: `DripPayError.invalidBaseURL` for a non-URL or plain http:// to a non-loopback host.
    public init(
        baseURL: String, token: APIToken, requestTimeout: Duration, requestsPerMinute: Int = 60,
        statusRequestsPerMinute: Int = 600, transport: (any DripPayTransport)? = nil,
        logger: Logger = Logger(label: "drippay-kiosk.api"), clock: any Clock<Duration> = ContinuousClock(),
        rateLimited: Bool = true
    ) throws(DripPayError) {
        self.baseURL = try Self.validate(baseURL: baseURL)
        self.token = token
        self.transport = transport ?? CurlTransport(tokenOrigin: self.baseURL)
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

    static func makeLimiter<C: Clock>(limit: Int, clock: C) -> RequestLimiter where C.Duration == Duration {
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
        let answer = try await perform(e, route: "ping", limiter: generalLimiter, ability: nil)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in try PingResponse(json: n) }
    }

    /// `GET /invoices?page=&per_page=`: one page, newest first. `perPage` is at most 100.
    public func listInvoices(page: Int = 1, perPage: Int = 15) async throws -> InvoicePage {
        let e = Endpoint(method: "GET", path: "/invoices")
        let answer = try await perform(
            e, route: "list", query: "page=\(max(1, page))&per_page=\(min(max(1, perPage), 100))",
            limiter: generalLimiter,
            ability: .listInvoice)
        let page = try decode(e, answer.body) { (n) throws(DecodeFailure) in try InvoicePage(json: n) }
        if !page.skipped.isEmpty { skippedInvoices.record(page.skipped, logger: logger) }
        return page
    }

    /// `POST /invoices`. A failure with `outcomeUnknown` may have created the invoice: use
    /// `createReconciling` rather than calling this again.
    public func createInvoice(_ request: CreateInvoiceRequest) async throws -> Invoice {
        let e = Endpoint(method: "POST", path: "/invoices")
        let answer = try await perform(
            e, route: "create", body: Array(request.jsonBody.utf8), limiter: generalLimiter, ability: .createInvoice)
        do {
            return try decode(e, answer.body) { (n) throws(DecodeFailure) in try Invoice(json: n.field("data")) }
        } catch DripPayError.malformedResponse(_, let expected) {
            // The invoice exists if the answer names it: it must be cancelled, never looked for again.
            guard let node = try? JSONNode.parse(answer.body), let data = try? node.field("data"),
                let reference = try? data.string("reference"), !reference.isEmpty
            else { throw DripPayError.malformedResponse(e, expected: expected) }
            throw DripPayError.unusableInvoice(e, reference: InvoiceReference(reference), expected: expected)
        }
    }

    /// `GET /invoices/{reference}`: details, with the payment once paid.
    public func invoice(_ reference: InvoiceReference) async throws -> Invoice {
        let e = Endpoint(method: "GET", path: "/invoices/\(Self.segment(reference))")
        let answer = try await perform(e, route: "view", limiter: generalLimiter, ability: .viewInvoice)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in try Invoice(json: n.field("data")) }
    }

    /// `GET /invoices/{reference}/status`: the poll (its own, larger budget).
    public func status(_ reference: InvoiceReference) async throws -> InvoiceStatus {
        let e = Endpoint(method: "GET", path: "/invoices/\(Self.segment(reference))/status")
        let answer = try await perform(e, route: "status", limiter: statusLimiter, ability: .viewInvoice)
        return try decode(e, answer.body) { (n) throws(DecodeFailure) in
            InvoiceStatus(apiValue: try n.string("status"))
        }
    }

    /// `DELETE /invoices/{reference}`: cancels (soft-deletes) a pending invoice.
    public func cancel(_ reference: InvoiceReference) async throws {
        let e = Endpoint(method: "DELETE", path: "/invoices/\(Self.segment(reference))")
        let answer = try await perform(e, route: "cancel", limiter: generalLimiter, ability: .cancelInvoice)
        _ = try decode(e, answer.body) { (n) throws(DecodeFailure) in try n.string("message") }
    }

    // MARK: Plumbing

    /// The reference as one path segment: RFC 3986 `pchar`s but `;` pass, every other UTF-8 byte is
    /// `%XX` (the set `CharacterSet.urlPathAllowed` less `/`: Foundation leaves out `;` too), by
    /// KioskCore's byte loop `percentEncoded(keeping:)`, because Foundation's percent-encoding was
    /// 6.5% of the daemon's CPU per status poll (perf, board-cost); a reference of allowed bytes
    /// only (every real one) comes back as it is.
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
        return raw.percentEncoded(keeping: allowed)
    }

    func decode<T>(
        _ endpoint: Endpoint, _ body: [UInt8], _ read: (JSONNode) throws(DecodeFailure) -> T
    ) throws(DripPayError) -> T {
        do {
            return try read(try JSONNode.parse(body))
        } catch {
            throw .malformedResponse(endpoint, expected: error.expected)
        }
    }

    /// Waits for the budget, sends, and maps any non-2xx answer or transport failure.
    func perform(
        _ endpoint: Endpoint, route: String, query: String? = nil, body: [UInt8]? = nil, limiter: RequestLimiter?,
        ability: Ability?
    ) async throws -> HTTPAnswer {
        // What the request is for (`Endpoint.priority`) decides its pacing and its reserve.
        try await limiter?.acquire(for: endpoint)
        var headers = [
            ("Accept", "application/json"), ("Authorization", "Bearer \(token.bearerValue)"),
            ("User-Agent", "drippay-kiosk"),
        ]
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let url = baseURL + endpoint.path + (query.map { "?\($0)" } ?? "")
        let exchange = HTTPExchange(method: endpoint.method, url: url, headers: headers, body: body, route: route)
        let answer: HTTPAnswer
        do {
            answer = try await transport.send(exchange, timeout: requestTimeout)
        } catch let failure as TransportFailure {
            // Whether the request may have reached the API is the failure's case, never its text.
            let failure = failure.redacting(token)
            if failure == .timeout {
                logger.warning("API request timed out", metadata: ["endpoint": "\(endpoint)"])
                throw DripPayError.timeout(endpoint, after: requestTimeout)
            }
            logger.warning(
                "API request failed", metadata: ["endpoint": "\(endpoint)", "failure": "\(failure)"])
            if failure.requestMayHaveArrived { throw DripPayError.connectionFailed(endpoint, failure) }
            throw DripPayError.notConnected(endpoint, failure)
        }
        logger.debug("API answered", metadata: ["endpoint": "\(endpoint)", "status": "\(answer.status)"])
        if let remaining = answer.integerHeader("X-RateLimit-Remaining") {
            let limit = answer.integerHeader("X-RateLimit-Limit")
            await limiter?.observe(limit: limit, remaining: remaining)
        }
        switch answer.status {
        case 200..<300:
            lastAnswer.instant.withLock { $0 = .now }
            return answer
        case 300..<400:
            let location = answer.header("Location")
            logger.error(
                "API answered a redirect; set [api] base_url to the final address",
                metadata: ["endpoint": "\(endpoint)", "status": "\(answer.status)", "location": "\(location ?? "-")"])
            throw DripPayError.redirected(endpoint, status: answer.status, location: location)
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
            // More than the cap is honoured only up to it: one odd answer must not stop the kiosk.
            let asked = answer.integerHeader("Retry-After") ?? 60
            let seconds = min(max(1, asked), Self.retryAfterCap)
            if asked > Self.retryAfterCap {
                logger.warning(
                    "API asked to wait longer than the cap; waiting the cap",
                    metadata: ["endpoint": "\(endpoint)", "retry_after": "\(asked)", "cap": "\(Self.retryAfterCap)"])
            }
            await limiter?.pause(retryAfter: .seconds(seconds))
            logger.warning("API rate limited", metadata: ["endpoint": "\(endpoint)", "retry_after": "\(seconds)"])
            throw DripPayError.rateLimited(endpoint, retryAfter: seconds)
        case 500..<600:
            throw DripPayError.server(endpoint, status: answer.status)
        default:
            throw DripPayError.unexpectedStatus(endpoint, status: answer.status)
        }
    }
}

extension HTTPAnswer {
    /// A header's whole-number value. CurlTransport hands values already trimmed: the Unicode
    /// trim (3% of the daemon's CPU per status poll, perf) runs only for a value that needs it.
    func integerHeader(_ name: String) -> Int? {
        header(name).flatMap { Int($0) ?? Int($0.trimmingWhitespace()) }
    }
}
