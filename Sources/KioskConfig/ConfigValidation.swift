import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Checks `api.base_url`; returns it without a trailing slash, or the message for the technician.
func validateBaseURL(_ text: String) -> Result<String, ValidationMessage> {
    let example = "e.g. \"https://drippay-dev.com/api/v1\""
    guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
        let host = components.host, !host.isEmpty
    else {
        return .failure(
            ValidationMessage("api.base_url \"\(text)\" is not a URL; give scheme, host and path, \(example)"))
    }
    guard scheme == "https" || scheme == "http" else {
        return .failure(ValidationMessage("api.base_url \"\(text)\" must start with https:// (\(example))"))
    }
    if components.query != nil || components.fragment != nil {
        return .failure(
            ValidationMessage(
                "api.base_url \"\(text)\" must not have a query or fragment; give the API root, \(example)"))
    }
    if scheme == "http", !isLoopback(host) {
        return .failure(
            ValidationMessage(
                "api.base_url \"\(text)\" uses http:// to a host that is not loopback; use https:// (http is allowed only for localhost, 127.0.0.0/8 and ::1)"
            ))
    }
    var normalized = text
    while normalized.hasSuffix("/") { normalized.removeLast() }
    return .success(normalized)
}

/// Why `support.url` cannot be drawn as a help page's QR, or nil when it can: an http(s) URL
/// with a host, whose only placeholder is `{customer_reference}`.
func validateSupportURL(_ text: String) -> String? {
    let example = "e.g. \"https://help.example.com/refund?ref={customer_reference}\""
    let filled = text.replacingAll("{customer_reference}", with: "K7M-4QX")
    if filled.contains("{") || filled.contains("}") {
        return
            "support.url \"\(text)\" uses an unknown placeholder; only {customer_reference} is filled in (\(example))"
    }
    guard let components = URLComponents(string: filled), let scheme = components.scheme?.lowercased(),
        scheme == "https" || scheme == "http", let host = components.host, !host.isEmpty
    else {
        return "support.url \"\(text)\" is not an http(s) URL; give the help page a phone opens, \(example)"
    }
    return nil
}

/// Why `api.ca_file` cannot be the API's CA, or nil when it can: a readable file holding at least
/// one PEM certificate (libcurl reads it at each new connection; a bad one fails every request).
func validateCAFile(_ path: String) -> String? {
    let what = "give the PEM file of the CA that signed the API's certificate"
    guard FileStatus.exists(path) else { return "api.ca_file \"\(path)\" does not exist; \(what)" }
    if FileStatus.isDirectory(path) { return "api.ca_file \"\(path)\" is a directory; \(what)" }
    guard let data = FileManager.default.contents(atPath: path) else {
        return "api.ca_file \"\(path)\" cannot be read (permission denied); the daemon's user must be able to read it"
    }
    guard data.count < 16 << 20, String(decoding: data, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
        return "api.ca_file \"\(path)\" holds no PEM certificate (-----BEGIN CERTIFICATE-----); \(what)"
    }
    return nil
}

/// The proxy schemes libcurl speaks.
let proxySchemes = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"]

/// Why `api.proxy` is not a proxy URL, or nil when it is: `scheme://host[:port]` with a scheme
/// libcurl speaks, no path, query or fragment; "" (no proxy, not even the environment's) passes.
func validateProxy(_ text: String) -> String? {
    guard !text.isEmpty else { return nil }
    let example = "e.g. \"http://proxy.example:3128\", or \"\" for no proxy"
    guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
        let host = components.host, !host.isEmpty
    else {
        return "api.proxy \"\(proxyWithoutCredentials(text))\" is not a URL; give scheme, host and port, \(example)"
    }
    guard proxySchemes.contains(scheme) else {
        return
            "api.proxy \"\(proxyWithoutCredentials(text))\": scheme '\(scheme)' is not a proxy scheme (\(proxySchemes.joined(separator: ", "))), \(example)"
    }
    if !(components.path.isEmpty || components.path == "/") || components.query != nil || components.fragment != nil {
        return
            "api.proxy \"\(proxyWithoutCredentials(text))\" must not have a path, query or fragment; give scheme, host and port, \(example)"
    }
    return nil
}

/// A proxy URL as it may be shown: a `user:password@` part replaced by `***@`.
func proxyWithoutCredentials(_ text: String) -> String {
    guard let scheme = text.firstRange(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else {
        return text
    }
    return String(text[..<scheme.upperBound]) + "***" + String(text[at...])
}

/// A validation message (wrapped so it can be a `Result` failure).
struct ValidationMessage: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// localhost, 127.0.0.0/8 and ::1: the only hosts plain http may go to.
func isLoopback(_ host: String) -> Bool {
    var h = host.lowercased()
    if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
    if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
    let octets = h.split(separator: ".", omittingEmptySubsequences: false)
    guard octets.count == 4, octets[0] == "127" else { return false }
    return octets.allSatisfy { o in !o.isEmpty && o.count <= 3 && o.allSatisfy(\.isASCIIDigit) && Int(o)! <= 255 }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// " (did you mean 'x'?)" when a close name exists.
func suggestion(_ word: String, _ candidates: [String]) -> String {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0)) }.min { $0.1 < $1.1 }
    guard let scored, scored.1 <= max(1, scored.0.count / 3) else { return "" }
    return " (did you mean '\(scored.0)'?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.utf8), b = Array(b.utf8)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
