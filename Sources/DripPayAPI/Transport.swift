import KioskCore

/// One HTTP request as the client builds it.
public struct HTTPExchange: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// What the request is for (`status`, `create`, `qr-image`, …): a transport may keep state per
    /// route (CurlTransport keeps one easy handle per route), never per URL.
    public var route: String

    public init(method: String, url: String, headers: [(String, String)], body: [UInt8]? = nil, route: String? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.route = route ?? method
    }
}

/// One HTTP answer, body fully read.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveEquals(name) }?.1
    }

    /// Every value of a header that may repeat, in order.
    public func headers(named name: String) -> [String] {
        headers.filter { $0.0.caseInsensitiveEquals(name) }.map(\.1)
    }
}

extension String {
    /// Header names are ASCII: compared byte by byte, upper and lower case alike, no allocation
    /// (every answer's headers are searched several times per status poll).
    fileprivate func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return zip(utf8, other.utf8).allSatisfy { a, b in
            a == b || (a | 0x20 == b | 0x20 && (a | 0x20) >= UInt8(ascii: "a") && (a | 0x20) <= UInt8(ascii: "z"))
        }
    }
}

/// Why no HTTP answer came back, by cause. Every decision (may the request have reached the API?
/// is it the network or the set-up?) is made on these cases, never on their text: `description`
/// is for people only.
public enum TransportFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server refused the connection (ECONNREFUSED): nothing was sent.
    case refused(address: String)
    /// No route to the server, or the network is down: nothing was sent.
    case unreachable(address: String, detail: String)
    /// The host name did not resolve: nothing was sent.
    case nameNotResolved(host: String)
    /// The proxy could not be used: nothing reached the API.
    case proxy(ProxyFailure)
    /// TLS failed before the request was sent: nothing was sent.
    case tls(TLSFailure, detail: String)
    /// The request could not be made at all (a URL libcurl refuses, a scheme it does not speak).
    case notSendable(detail: String)
    /// No complete answer within the timeout: the request may have arrived.
    case timeout
    /// The connection was reset or closed before the whole answer arrived: the request may have
    /// arrived (and was not sent again).
    case reset(detail: String)
    /// The answer's body was larger than the limit; the transfer was stopped.
    case tooLarge(limit: Int)
    /// Any other libcurl failure, by its code: the request may have arrived.
    case other(code: Int, detail: String)

    /// Why a proxy could not be used.
    public enum ProxyFailure: Hashable, Sendable {
        /// The proxy's host name did not resolve.
        case notResolved(proxy: String)
        /// The proxy refused or did not take the connection.
        case unreachable(proxy: String, detail: String)
        /// The proxy answered the CONNECT with this status instead of opening the tunnel.
        case tunnelRefused(status: Int)
    }

    /// Why TLS failed.
    public enum TLSFailure: Hashable, Sendable {
        /// The certificate chain does not lead to a trusted CA (OpenSSL's verify result).
        case untrustedCertificate(verifyResult: Int)
        /// The certificate is valid but does not name the host the URL names.
        case hostNameMismatch
        /// The CA file (`[api] ca_file`) could not be read or holds no certificate.
        case caFileUnusable
        /// The handshake itself failed (protocol, cipher, a peer that does not speak TLS).
        case handshake
    }

    /// Whether the request may have reached the server: false only when no connection to it
    /// was made (then nothing was sent, and a create certainly created nothing).
    public var requestMayHaveArrived: Bool {
        switch self {
        case .refused, .unreachable, .nameNotResolved, .proxy, .tls, .notSendable: return false
        case .timeout, .reset, .tooLarge, .other: return true
        }
    }

    public var description: String {
        switch self {
        case .refused(let address): return "connection refused by \(address)"
        case .unreachable(let address, let detail): return "\(address) unreachable (\(detail))"
        case .nameNotResolved(let host): return "host name '\(host)' did not resolve (DNS)"
        case .proxy(.notResolved(let proxy)): return "proxy \(proxy): its host name did not resolve"
        case .proxy(.unreachable(let proxy, let detail)): return "proxy \(proxy) unreachable (\(detail))"
        case .proxy(.tunnelRefused(let status)):
            return "the proxy refused the tunnel (CONNECT answered HTTP \(status))"
        case .tls(.untrustedCertificate, let detail):
            return
                "TLS: the server's certificate is not trusted (\(detail)); if the API uses a private CA, set [api] ca_file to its certificate"
        case .tls(.hostNameMismatch, let detail):
            return
                "TLS: the server's certificate does not name this host (\(detail)); [api] base_url must use a host name the certificate names"
        case .tls(.caFileUnusable, let detail):
            return "TLS: the CA file could not be used (\(detail)); check [api] ca_file"
        case .tls(.handshake, let detail): return "TLS handshake failed (\(detail))"
        case .notSendable(let detail): return "the request could not be made (\(detail))"
        case .timeout: return "no complete answer within the timeout"
        case .reset(let detail): return "the connection closed before the whole answer (\(detail))"
        case .tooLarge(let limit): return "the answer is larger than \(limit) bytes"
        case .other(let code, let detail): return "libcurl error \(code) (\(detail))"
        }
    }

    /// The same failure with the token taken out of every text it carries.
    public func redacting(_ token: APIToken) -> TransportFailure {
        switch self {
        case .unreachable(let address, let detail): return .unreachable(address: address, detail: token.redact(detail))
        case .proxy(.unreachable(let proxy, let detail)):
            return .proxy(.unreachable(proxy: token.redact(proxy), detail: token.redact(detail)))
        case .tls(let kind, let detail): return .tls(kind, detail: token.redact(detail))
        case .notSendable(let detail): return .notSendable(detail: token.redact(detail))
        case .reset(let detail): return .reset(detail: token.redact(detail))
        case .other(let code, let detail): return .other(code: code, detail: token.redact(detail))
        case .refused, .nameNotResolved, .proxy, .timeout, .tooLarge: return self
        }
    }
}

/// Moves one request to the API and its answer back. The client's only I/O seam: production
/// uses `CurlTransport`; the benchmark uses an in-memory answer to measure the client alone.
public protocol DripPayTransport: Sendable {
    /// Throws `TransportFailure` (or `CancellationError`) when no answer arrives. `timeout`
    /// bounds the whole exchange, connecting and the body included.
    func send(_ request: HTTPExchange, timeout: Duration) async throws -> HTTPAnswer
}
