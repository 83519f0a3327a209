import KioskCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where the invoice's QR image may be fetched from, and with what: the pure rules, tested
/// without sockets. https only (http for loopback hosts, as for `base_url`); a redirect may not
/// leave https; the bearer token goes only to the API's own origin (scheme, host and port).
public struct ImageURLPolicy: Hashable, Sendable {
    /// An origin: lower-case scheme and host, and the port (the scheme's default when absent).
    public struct Origin: Hashable, Sendable, CustomStringConvertible {
        public let scheme: String
        public let host: String
        public let port: Int
        public var description: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    }

    /// The API's origin, from `base_url`.
    public let apiOrigin: Origin

    public init(apiBaseURL: String) throws(QRImageFetchError) {
        apiOrigin = try Self.origin(of: apiBaseURL)
    }

    /// The origin of an absolute http(s) URL; refuses anything else.
    public static func origin(of url: String) throws(QRImageFetchError) -> Origin {
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased(), let host = c.host?.lowercased(),
            !host.isEmpty
        else { throw .refusedURL(url, reason: "it is not an absolute URL") }
        let bare = host.trimmingScalars(where: { $0 == "[" || $0 == "]" })
        switch scheme {
        case "https": return Origin(scheme: scheme, host: bare, port: c.port ?? 443)
        case "http":
            guard Self.isLoopback(bare) else {
                throw .refusedURL(
                    url, reason: "plain http:// is allowed only to loopback hosts; the image must be on https://")
            }
            return Origin(scheme: scheme, host: bare, port: c.port ?? 80)
        default:
            throw .refusedURL(url, reason: "its scheme '\(scheme)' is not https")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        let v4 = octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
        return host == "localhost" || host == "::1" || v4
    }

    /// Whether a request to `url` may carry the API token: only on the API's own origin.
    public func sendsToken(to url: String) -> Bool {
        (try? Self.origin(of: url)) == apiOrigin
    }

    /// The absolute URL a redirect from `from` to `location` leads to, if it may be followed:
    /// https to https (or loopback http to loopback http), never from https down to http.
    public func redirect(from: String, location: String) throws(QRImageFetchError) -> String {
        guard let base = URL(string: from), let target = URL(string: location, relativeTo: base)?.absoluteURL else {
            throw .redirectRefused(from: from, to: location, reason: "the Location is not a URL")
        }
        let next = target.absoluteString
        let fromOrigin = try Self.origin(of: from)
        let toOrigin: Origin
        do {
            toOrigin = try Self.origin(of: next)
        } catch {
            throw .redirectRefused(from: from, to: next, reason: "the target is not https")
        }
        if fromOrigin.scheme == "https", toOrigin.scheme != "https" {
            throw .redirectRefused(from: from, to: next, reason: "it leaves https")
        }
        return next
    }
}

/// Why the QR image could not be fetched. Each names the URL; none ever holds the token.
public enum QRImageFetchError: Error, Hashable, Sendable, CustomStringConvertible {
    case refusedURL(String, reason: String)
    case redirectRefused(from: String, to: String, reason: String)
    case tooManyRedirects(String, limit: Int)
    case status(String, Int)
    case tooLarge(String, limit: Int)
    case timeout(String, after: Duration)
    /// No usable answer: why, by cause (refused, DNS, TLS, reset, …).
    case connection(String, TransportFailure)

    public var description: String {
        switch self {
        case .refusedURL(let url, let reason):
            return
                "QR image \(url) refused: \(reason). Check qr_code_image_url at the API, or use [qr] source = \"template\""
        case .redirectRefused(let from, let to, let reason):
            return "QR image \(from): redirect to \(to) refused: \(reason)"
        case .tooManyRedirects(let url, let limit): return "QR image \(url): more than \(limit) redirects"
        case .status(let url, let status): return "QR image \(url) answered HTTP \(status)"
        case .tooLarge(let url, let limit): return "QR image \(url) is larger than \(limit) bytes; refused"
        case .timeout(let url, let after): return "QR image \(url): no answer within \(after)"
        case .connection(let url, let failure): return "QR image \(url): connection failed (\(failure))"
        }
    }
}

/// A fetch's result.
public enum QRImageAnswer: Hashable, Sendable {
    /// New bytes, with the validators to send next time.
    case fresh(bytes: [UInt8], contentType: String?, etag: String?, lastModified: String?)
    /// 304: the image is the one already held.
    case notModified
}

/// A fetch's answer with the image's own word on how long it stays the same.
public struct QRImageFetch: Hashable, Sendable {
    public var answer: QRImageAnswer
    /// Seconds from the answer during which the image says it does not change (`Cache-Control`,
    /// `Expires`: `HTTPFreshness`); nil when it says nothing.
    public var freshFor: Double?
}

/// Fetches the invoice's QR image over HTTP: the rules of `ImageURLPolicy`, at most
/// `maxRedirects` redirects (followed here, never by the HTTP client), a byte cap checked while
/// reading, conditional requests (If-None-Match / If-Modified-Since), one timeout over the whole
/// fetch, and a request budget (the API's own for its origin, a small one elsewhere). Runs on a
/// `CurlTransport`, the daemon's API transport (its CA file and proxy).
public final class QRImageFetcher: Sendable {
    public static let defaultMaxBytes = 2 << 20
    public let policy: ImageURLPolicy
    private let token: APIToken
    private let timeout: Duration
    private let maxBytes: Int
    private let maxRedirects: Int
    private let transport: CurlTransport
    private let apiBudget: @Sendable () async throws -> Void
    private let otherBudget: RequestLimiter?
    private let logger: Logger

    /// - Parameters:
    ///   - apiBudget: waits for a grant of the API's 60/min budget (the client's general budget).
    ///   - otherRequestsPerMinute: the bound for fetches from any other origin (nil: none).
    ///   - transport: the API's transport (nil: one of its own, the token only to the API's origin).
    public init(
        apiBaseURL: String, token: APIToken, timeout: Duration, maxBytes: Int = QRImageFetcher.defaultMaxBytes,
        maxRedirects: Int = 3, apiBudget: @escaping @Sendable () async throws -> Void,
        otherRequestsPerMinute: Int? = 12, transport: CurlTransport? = nil,
        logger: Logger = Logger(label: "drippay-kiosk.qr-image")
    ) throws(QRImageFetchError) {
        policy = try ImageURLPolicy(apiBaseURL: apiBaseURL)
        self.token = token
        self.timeout = timeout
        self.maxBytes = maxBytes
        self.maxRedirects = maxRedirects
        self.apiBudget = apiBudget
        plannedRequestsPerMinute = max(1, otherRequestsPerMinute ?? 12)
        otherBudget = otherRequestsPerMinute.map {
            RequestLimiter(budget: RateBudget(limit: max(1, $0)), clock: ContinuousClock())
        }
        self.logger = logger
        self.transport = transport ?? CurlTransport(tokenOrigin: apiBaseURL)
    }

    /// Kept for callers that end a fetcher explicitly: the connections belong to the transport
    /// (libcurl's pool, closed when idle), so there is nothing left to close.
    public func shutdown() async {}

    /// The most fetches a minute it plans for: the bound for other origins (the API's own origin
    /// has the general budget, of which the image should take no more).
    public let plannedRequestsPerMinute: Int

    /// Fetches `url`; `etag` / `lastModified` from the previous answer make it conditional.
    public func fetch(_ url: String, etag: String? = nil, lastModified: String? = nil) async throws -> QRImageAnswer {
        try await fetchWithFreshness(url, etag: etag, lastModified: lastModified).answer
    }

    /// `fetch`, with the image's freshness (`Cache-Control` / `Expires`, 304 answers too).
    public func fetchWithFreshness(
        _ url: String, etag: String? = nil, lastModified: String? = nil
    ) async throws
        -> QRImageFetch
    {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var current = url
        _ = try policy.origin(of: current)
        for hop in 0...maxRedirects {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw QRImageFetchError.timeout(url, after: timeout) }
            let answer = try await request(
                current, etag: hop == 0 ? etag : nil, lastModified: hop == 0 ? lastModified : nil, timeout: left,
                original: url)
            switch answer.status {
            case 301, 302, 303, 307, 308:
                guard let location = answer.location else { throw QRImageFetchError.status(current, answer.status) }
                guard hop < maxRedirects else { throw QRImageFetchError.tooManyRedirects(url, limit: maxRedirects) }
                current = try policy.redirect(from: current, location: location)
                logger.debug("QR image redirected", metadata: ["to": "\(current)"])
            case 304:
                return QRImageFetch(answer: .notModified, freshFor: answer.freshFor)
            case 200..<300:
                return QRImageFetch(
                    answer: .fresh(
                        bytes: answer.body, contentType: answer.contentType, etag: answer.etag,
                        lastModified: answer.lastModified),
                    freshFor: answer.freshFor)
            default:
                throw QRImageFetchError.status(current, answer.status)
            }
        }
        throw QRImageFetchError.tooManyRedirects(url, limit: maxRedirects)
    }

    private struct Answer {
        var status: Int
        var location, contentType, etag, lastModified: String?
        var freshFor: Double?
        var body: [UInt8]
    }

    private func request(
        _ url: String, etag: String?, lastModified: String?, timeout: Duration, original: String
    ) async throws -> Answer {
        let toAPI = policy.sendsToken(to: url)
        if toAPI {
            try await apiBudget()
        } else {
            try await otherBudget?.acquire(for: Endpoint(method: "GET", path: url))
        }
        var headers = [("Accept", "image/webp, image/png;q=0.9"), ("User-Agent", "drippay-kiosk")]
        if toAPI { headers.append(("Authorization", "Bearer \(token.bearerValue)")) }
        if let etag { headers.append(("If-None-Match", etag)) }
        if let lastModified { headers.append(("If-Modified-Since", lastModified)) }
        let response: HTTPAnswer
        do {
            // libcurl's timeout covers the whole exchange, the body included; it never follows
            // the redirect itself (the policy above decides).
            response = try await transport.send(
                HTTPExchange(method: "GET", url: url, headers: headers, route: "qr-image"), timeout: timeout,
                maxBodyBytes: maxBytes)
        } catch let failure as TransportFailure {
            switch failure {
            case .timeout: throw QRImageFetchError.timeout(original, after: self.timeout)
            case .tooLarge: throw QRImageFetchError.tooLarge(url, limit: maxBytes)
            default: throw QRImageFetchError.connection(url, failure.redacting(token))
            }
        }
        return Answer(
            status: response.status, location: response.header("Location"),
            contentType: response.header("Content-Type"), etag: response.header("ETag"),
            lastModified: response.header("Last-Modified"),
            freshFor: HTTPFreshness.lifetime(
                cacheControl: response.headers(named: "Cache-Control").joinedOrNil,
                expires: response.header("Expires"), date: response.header("Date"), age: response.header("Age")),
            body: response.body)
    }
}

extension [String] {
    /// Repeated header lines as one list value (RFC 9110, 5.3); nil when there are none.
    fileprivate var joinedOrNil: String? { isEmpty ? nil : joined(separator: ",") }
}

extension ImageURLPolicy {
    /// `origin(of:)` as an instance method, for symmetry at call sites.
    func origin(of url: String) throws(QRImageFetchError) -> Origin { try Self.origin(of: url) }
}

extension DripPayClient {
    /// Waits for a grant of the general budget (every endpoint but the status poll): for
    /// requests to the API's origin made beside this client, such as the invoice's QR image.
    public func acquireGeneralBudget() async throws {
        try await generalLimiter?.acquire(for: Endpoint(method: "GET", path: "(the invoice's QR image)"))
    }
}
