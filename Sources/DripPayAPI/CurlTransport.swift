import CCurl
import KioskCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The production transport: HTTP/1.1 over the system's libcurl and OpenSSL (security fixes come
/// with `apt upgrade`), driven by `CurlEngine`'s one thread.
///
/// - One easy handle per route (`HTTPExchange.route`), kept and reused; connections stay open
///   in libcurl's pool between requests.
/// - `timeout` bounds the whole exchange (CURLOPT_TIMEOUT_MS: connecting, TLS, the body).
/// - No redirect is ever followed (CURLOPT_FOLLOWLOCATION 0): a 3xx comes back as an answer.
/// - A request whose body went out is never sent again by libcurl (see `CurlTransfer.seek`).
/// - The `Authorization` header goes only to `tokenOrigin`'s origin; to any other it is dropped.
/// - TLS: the system's CA store (plus `caFile` when set), peer and host name always verified.
/// - Proxy: `proxy` when set, else the environment's `https_proxy` / `http_proxy` / `no_proxy`
///   as libcurl reads them. Through any proxy the request goes in a CONNECT tunnel, so the proxy
///   never sees a header.
public final class CurlTransport: DripPayTransport {
    /// What every request of this transport uses.
    public struct Options: Hashable, Sendable {
        /// A PEM file of CA certificates trusted besides the system's store (`[api] ca_file`).
        public var caFile: String?
        /// The proxy URL (`[api] proxy`, e.g. `http://proxy.site:3128`); nil: the environment's.
        public var proxy: String?
        /// The largest answer body accepted by `send(_:timeout:)`; a page of 100 invoices is far smaller.
        public var maxBodyBytes: Int

        public init(caFile: String? = nil, proxy: String? = nil, maxBodyBytes: Int = 8 << 20) {
            self.caFile = caFile
            self.proxy = proxy
            self.maxBodyBytes = maxBodyBytes
        }
    }

    public let options: Options
    private let tokenOrigin: ImageURLPolicy.Origin?
    /// `scheme://host[:port]/` as `base_url` spells it: a URL that starts with it is on the
    /// token's origin without parsing (the API client's URLs always do).
    private let tokenPrefix: String?
    private let pool = HandlePool()
    private let engine = CurlEngine.shared

    /// - Parameter tokenOrigin: the API's base URL; `Authorization` goes only to its origin.
    public init(options: Options = Options(), tokenOrigin: String? = nil) {
        self.options = options
        self.tokenOrigin = tokenOrigin.flatMap { try? ImageURLPolicy.origin(of: $0) }
        self.tokenPrefix = tokenOrigin.flatMap { base in
            guard let scheme = base.firstRange(of: "://") else { return nil }
            let rest = base[scheme.upperBound...]
            let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
            return String(base[..<end]) + "/"
        }
    }

    public func send(_ request: HTTPExchange, timeout: Duration) async throws -> HTTPAnswer {
        try await send(request, timeout: timeout, maxBodyBytes: options.maxBodyBytes)
    }

    /// `send`, with a body limit of its own (the QR image's): a larger answer fails with
    /// `TransportFailure.tooLarge` as soon as its `Content-Length` or its bytes say so.
    public func send(_ request: HTTPExchange, timeout: Duration, maxBodyBytes: Int) async throws -> HTTPAnswer {
        try Task.checkCancellation()
        let route = request.route
        guard let easy = pool.take(route) ?? makeHandle() else {
            throw TransportFailure.other(code: Int(CURLE_OUT_OF_MEMORY.rawValue), detail: "curl_easy_init failed")
        }
        easy.errorBuffer.pointee = 0
        easy.set(CURLOPT_URL, request.url)
        let upload = request.body ?? []
        switch (request.method, request.body) {
        case ("GET", nil):
            easy.set(CURLOPT_HTTPGET, 1)
            easy.set(CURLOPT_CUSTOMREQUEST, nil)
        case ("POST", _):
            easy.set(CURLOPT_POST, 1)
            easy.set(CURLOPT_CUSTOMREQUEST, nil)
            ccurl_easy_setopt_offset(easy.raw, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(upload.count))
        case (let method, nil):
            easy.set(CURLOPT_HTTPGET, 1)
            easy.set(CURLOPT_CUSTOMREQUEST, method)
        case (let method, _?):
            easy.set(CURLOPT_POST, 1)
            easy.set(CURLOPT_CUSTOMREQUEST, method)
            ccurl_easy_setopt_offset(easy.raw, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(upload.count))
        }
        let carriesToken = mayCarryToken(request.url)
        var lines: [String] = []
        lines.reserveCapacity(request.headers.count + 1)
        for (name, value) in request.headers {
            if !carriesToken, name.utf8.count == 13, name.lowercased() == "authorization" { continue }
            lines.append("\(name): \(value)")
        }
        // No `Expect: 100-continue` wait before a body: one round trip, and no second send path.
        lines.append("Expect:")
        easy.setHeaders(lines)
        let milliseconds = max(
            1, Int(timeout.components.seconds) * 1000 + Int(timeout.components.attoseconds / 1_000_000_000_000_000))
        easy.set(CURLOPT_TIMEOUT_MS, milliseconds)
        easy.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds)
        ccurl_easy_setopt_offset(easy.raw, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(maxBodyBytes))

        let pool = self.pool
        let proxy = options.proxy
        let transfer = CurlTransfer(
            easy: easy, upload: upload, maxBodyBytes: maxBodyBytes,
            failure: { code, easy in Self.failure(code, easy, proxy: proxy, maxBodyBytes: maxBodyBytes) },
            release: { pool.put($0, route: route) })
        let context = UnsafeRawPointer(Unmanaged.passUnretained(transfer).toOpaque())
        easy.set(CURLOPT_WRITEDATA, pointer: context)
        easy.set(CURLOPT_HEADERDATA, pointer: context)
        easy.set(CURLOPT_READDATA, pointer: context)
        easy.set(CURLOPT_SEEKDATA, pointer: context)
        return try await transfer.run(on: engine)
    }

    /// Whether a request to `url` may carry the `Authorization` header.
    private func mayCarryToken(_ url: String) -> Bool {
        guard let tokenOrigin else { return true }
        if let tokenPrefix, url.hasPrefix(tokenPrefix) { return true }
        return (try? ImageURLPolicy.origin(of: url)) == tokenOrigin
    }

    /// A new easy handle with what never changes between requests.
    private func makeHandle() -> CurlEasyHandle? {
        guard let easy = CurlEasyHandle() else { return nil }
        easy.set(CURLOPT_NOSIGNAL, 1)  // libcurl in a threaded process: no alarm(), no SIGPIPE games
        easy.set(CURLOPT_ERRORBUFFER, pointer: UnsafeRawPointer(easy.errorBuffer))
        ccurl_easy_setopt_data_callback(easy.raw, CURLOPT_WRITEFUNCTION, CurlTransfer.write)
        ccurl_easy_setopt_data_callback(easy.raw, CURLOPT_HEADERFUNCTION, CurlTransfer.header)
        ccurl_easy_setopt_data_callback(easy.raw, CURLOPT_READFUNCTION, CurlTransfer.read)
        ccurl_easy_setopt_seek_callback(easy.raw, CurlTransfer.seek)
        easy.set(CURLOPT_FOLLOWLOCATION, 0)
        easy.set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
        easy.set(CURLOPT_TCP_KEEPALIVE, 1)
        // The proxy's CONNECT answer is not the API's: keep its headers out of the answer.
        easy.set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        easy.set(CURLOPT_HTTPPROXYTUNNEL, 1)
        if let caFile = options.caFile {
            easy.set(CURLOPT_CAINFO, caFile)
            // CAINFO replaces the default bundle; the system's directory keeps public CAs trusted.
            easy.set(CURLOPT_CAPATH, Self.systemCADirectory)
        }
        if let proxy = options.proxy { easy.set(CURLOPT_PROXY, proxy) }
        return easy
    }

    /// Debian's CA directory (`update-ca-certificates`), where OpenSSL finds the system's CAs by hash.
    static let systemCADirectory = "/etc/ssl/certs"
}

/// Idle easy handles by route (at most two each: one daemon has at most two requests of one
/// route in flight; a third is made and dropped).
private final class HandlePool: Sendable {
    private let idle = Mutex<[String: [CurlEasyHandle]]>([:])
    private static let perRoute = 2

    func take(_ route: String) -> CurlEasyHandle? {
        idle.withLock { $0[route]?.popLast() }
    }

    func put(_ handle: CurlEasyHandle, route: String) {
        idle.withLock { idle in
            if idle[route, default: []].count < Self.perRoute { idle[route, default: []].append(handle) }
        }
    }
}
