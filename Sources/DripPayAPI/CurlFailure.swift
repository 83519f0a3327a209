import CCurl

#if canImport(Glibc)
import Glibc
#endif

extension CurlTransport {
    /// The typed failure for a finished transfer's CURLcode, from libcurl's codes and infos
    /// (the OS error of the connect, OpenSSL's verify result, the proxy's CONNECT status),
    /// never from its message text: that text only becomes the failure's `detail`.
    static func failure(
        _ code: CURLcode, _ easy: CurlEasyHandle, proxy: String?, maxBodyBytes: Int
    )
        -> TransportFailure
    {
        let detail = easy.errorText ?? String(cString: curl_easy_strerror(code))
        let tunnel = easy.info(CURLINFO_HTTP_CONNECTCODE)
        if tunnel >= 300 { return .proxy(.tunnelRefused(status: tunnel)) }
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST:
            return .nameNotResolved(host: host(of: easy.string(CURLINFO_EFFECTIVE_URL) ?? ""))
        case CURLE_COULDNT_RESOLVE_PROXY:
            return .proxy(.notResolved(proxy: proxy.map(shown) ?? "(from the environment)"))
        case CURLE_COULDNT_CONNECT:
            if let proxy, !proxy.isEmpty { return .proxy(.unreachable(proxy: shown(proxy), detail: detail)) }
            let address = self.address(easy)
            if Int32(easy.info(CURLINFO_OS_ERRNO)) == ECONNREFUSED { return .refused(address: address) }
            return .unreachable(address: address, detail: detail)
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_PEER_FAILED_VERIFICATION:
            // OpenSSL verifies the chain during the handshake; a failure stores its X509_V_ERR
            // code (2 and up: 20 unknown issuer, 10 expired, …). A chain it accepted leaves the
            // result at 0, or at libcurl's "not verified yet" (1, !X509_V_OK) when libcurl's own
            // host-name check, made before it reads the result, is what failed.
            let verify = easy.info(CURLINFO_SSL_VERIFYRESULT)
            return verify > 1
                ? .tls(.untrustedCertificate(verifyResult: verify), detail: detail)
                : .tls(.hostNameMismatch, detail: detail)
        case CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CRL_BADFILE:
            return .tls(.caFileUnusable, detail: detail)
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CIPHER, CURLE_SSL_CERTPROBLEM, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_ENGINE_NOTFOUND,
            CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CLIENTCERT:
            return .tls(.handshake, detail: detail)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .notSendable(detail: detail)
        case CURLE_FILESIZE_EXCEEDED:
            return .tooLarge(limit: maxBodyBytes)
        case CURLE_SEND_FAIL_REWIND:
            // `CurlTransfer.seek` refused to send the body again after a kept-alive connection closed.
            return .reset(detail: "the server closed the connection after the request went out; it was not sent again")
        case CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_WEIRD_SERVER_REPLY:
            return .reset(detail: detail)
        default:
            return .other(code: Int(code.rawValue), detail: detail)
        }
    }

    /// A proxy URL as messages show it: a `user:password@` part becomes `***@`.
    static func shown(_ proxy: String) -> String {
        guard let scheme = proxy.firstRange(of: "://"), let at = proxy[scheme.upperBound...].lastIndex(of: "@") else {
            return proxy
        }
        return String(proxy[..<scheme.upperBound]) + "***" + String(proxy[at...])
    }

    /// `ip:port` of the address libcurl tried last, or the URL's host and port.
    private static func address(_ easy: CurlEasyHandle) -> String {
        let url = easy.string(CURLINFO_EFFECTIVE_URL) ?? ""
        let (host, urlPort) = authority(of: url)
        // libcurl sets the primary port only once connected: a refused connect has the URL's.
        let port = easy.info(CURLINFO_PRIMARY_PORT)
        guard let ip = easy.string(CURLINFO_PRIMARY_IP), !ip.isEmpty else { return "\(host):\(urlPort)" }
        return "\(ip.contains(":") ? "[\(ip)]" : ip):\(port > 0 ? port : urlPort)"
    }

    /// The host of an absolute URL (for messages), without user info or port.
    static func host(of url: String) -> String { authority(of: url).host }

    /// The host (IPv6 in brackets) and port of an absolute URL; the scheme's port when it has none.
    static func authority(of url: String) -> (host: String, port: Int) {
        var rest = Substring(url)
        var defaultPort = 443
        if let scheme = rest.firstRange(of: "://") {
            if rest[..<scheme.lowerBound].lowercased() == "http" { defaultPort = 80 }
            rest = rest[scheme.upperBound...]
        }
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        var host = rest
        var port = defaultPort
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[...close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":"), let p = Int(after.dropFirst()) { port = p }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            if let p = Int(rest[rest.index(after: colon)...]) { port = p }
        }
        return (String(host), port)
    }
}
