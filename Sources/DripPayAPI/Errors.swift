import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One API endpoint as called: the method and the path below the base URL (`GET /invoices/{ref}/status`).
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public let method: String
    public let path: String

    public init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    public var description: String { "\(method) \(path)" }
}

/// Why a DripPay API call failed. Every description names the endpoint and what to do; none
/// ever contains the token.
public enum DripPayError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The base URL is not usable: not a URL, or plain http:// to a host that is not loopback.
    case invalidBaseURL(String, reason: String)
    /// 401: the token is unknown, revoked or missing.
    case unauthenticated(Endpoint)
    /// 403: the token lacks the ability the endpoint needs.
    case forbidden(Endpoint, ability: Ability?)
    /// 404: no such invoice (or it was cancelled: cancelled invoices are soft-deleted).
    case notFound(Endpoint)
    /// 422: the request was refused; `fields` maps a field (`items.0.amount`) to its messages.
    case validation(Endpoint, message: String, fields: [String: [String]])
    /// 429: too many requests; the budget for this endpoint pauses for `retryAfter` seconds.
    case rateLimited(Endpoint, retryAfter: Int)
    /// The client's own request budget (`requests_per_minute`) had no room before the caller's
    /// deadline: nothing was sent, and the API did not answer 429.
    case budgetRefused(Endpoint, waitSeconds: Int)
    /// 3xx: the client follows no redirect (a POST must never turn into a GET elsewhere).
    case redirected(Endpoint, status: Int, location: String?)
    /// 5xx: the server failed. For a create, the invoice may nevertheless exist.
    case server(Endpoint, status: Int)
    /// Any other status the API is not documented to answer.
    case unexpectedStatus(Endpoint, status: Int)
    /// No answer within the request timeout.
    case timeout(Endpoint, after: Duration)
    /// The exchange failed after the request may have gone out (reset, closed, an answer too
    /// large): for a create, the invoice may exist.
    case connectionFailed(Endpoint, TransportFailure)
    /// No connection to the API was made (refused, unreachable, DNS, TLS, proxy): the request
    /// never left this machine.
    case notConnected(Endpoint, TransportFailure)
    /// The answer was not what the API documents.
    case malformedResponse(Endpoint, expected: String)
    /// A 2xx create whose invoice carries a reference but is otherwise malformed (no payable code,
    /// a total or currency that is not exact money): the invoice exists and must be cancelled.
    case unusableInvoice(Endpoint, reference: InvoiceReference, expected: String)

    /// The endpoint the failed call was for (nil for a bad base URL).
    public var endpoint: Endpoint? {
        switch self {
        case .invalidBaseURL: return nil
        case .unauthenticated(let e), .forbidden(let e, _), .notFound(let e), .validation(let e, _, _),
            .rateLimited(let e, _), .budgetRefused(let e, _), .redirected(let e, _, _), .server(let e, _),
            .unexpectedStatus(let e, _), .timeout(let e, _), .connectionFailed(let e, _), .notConnected(let e, _),
            .malformedResponse(let e, _), .unusableInvoice(let e, _, _):
            return e
        }
    }

    /// True when trying again later may succeed (network trouble, 5xx, 429); false when a person
    /// must change something (token, abilities, request).
    public var isTransient: Bool {
        switch self {
        case .rateLimited, .budgetRefused, .server, .timeout, .connectionFailed, .notConnected: return true
        case .invalidBaseURL, .unauthenticated, .forbidden, .notFound, .validation, .unexpectedStatus,
            .malformedResponse, .redirected, .unusableInvoice:
            return false
        }
    }

    /// True when the request may have been carried out although no usable answer came back:
    /// a create that failed this way must be reconciled by its trade_no, never blindly repeated.
    /// A 5xx counts: Laravel may commit the invoice and fail afterwards (or a proxy times out).
    public var outcomeUnknown: Bool {
        switch self {
        case .server, .timeout, .connectionFailed: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .invalidBaseURL(let url, let reason):
            return "API base URL '\(url)' is not usable: \(reason). Set [api] base_url to https://<host>/api/v1."
        case .unauthenticated(let e):
            return
                "\(e): the API refused the token (401 Unauthenticated). Check that the token file holds a valid, unrevoked '{id}|{secret}' token."
        case .forbidden(let e, let ability):
            let need = ability.map { "the '\($0.rawValue)' ability" } ?? "an ability it lacks"
            return
                "\(e): the token lacks \(need) (403). Create a token with list-invoice, view-invoice, create-invoice and cancel-invoice at /api-keys."
        case .notFound(let e):
            return "\(e): no such invoice (404); it may have been cancelled (cancelled invoices are soft-deleted)."
        case .validation(let e, let message, let fields):
            let detail = fields.keys.sorted().map { "\($0): \(fields[$0]!.joined(separator: " "))" }.joined(
                separator: "; ")
            return
                "\(e): the API refused the request (422): \(message)\(detail.isEmpty ? "" : " [\(detail)]"). Check machine_id, currency and the item amounts."
        case .rateLimited(let e, let retryAfter):
            return
                "\(e): rate limited (429); requests to this endpoint pause for \(retryAfter) s. Lower requests_per_minute if this repeats."
        case .budgetRefused(let e, let wait):
            return
                "\(e): not sent: this kiosk's own request budget ([api] requests_per_minute) has no room for \(wait) s, past the vend's deadline (the API did not answer 429). It frees up by itself; if it repeats, sessions are retrying: see `drippay-kiosk journal refunds`."
        case .redirected(let e, let status, let location):
            return
                "\(e): the API answered a redirect (HTTP \(status)\(location.map { " to \($0)" } ?? "")), which the client never follows. Set [api] base_url to the API's final address (https://<host>/api/v1)."
        case .unusableInvoice(let e, let reference, let expected):
            return
                "\(e): the API created invoice \(reference) but its answer is not usable (\(expected)); it is cancelled and the vend denied. Check the API's invoices for this machine."
        case .notConnected(let e, let failure):
            return
                "\(e): the API was not reached: \(failure); nothing was sent. Check that the API is up, the network and [api] base_url."
        case .server(let e, let status):
            return
                "\(e): the API failed with HTTP \(status); will retry. If it persists, check the DripPay service status."
        case .unexpectedStatus(let e, let status):
            return
                "\(e): the API answered HTTP \(status), which it does not document. Check [api] base_url points at /api/v1."
        case .timeout(let e, let after):
            return "\(e): no answer within \(formatSeconds(after)) s (request_timeout_s); check the network to the API."
        case .connectionFailed(let e, let failure):
            return "\(e): connection failed (\(failure)); check the network and [api] base_url."
        case .malformedResponse(let e, let expected):
            return
                "\(e): the answer is not what the API documents: \(expected). Check [api] base_url points at the DripPay API."
        }
    }
}

/// A trade_no lookup met this machine's invoice for the trade_no in a list page but could not
/// decode it: whether it is pending, paid or cancelled is unknown (the lookup is retried, within
/// the session's settling budget).
public struct LookupUnreadable: Error, Hashable, Sendable, CustomStringConvertible {
    public let tradeNo: TradeNo
    public let invoice: SkippedInvoice

    public var description: String {
        "GET /invoices: the invoice for trade_no \(tradeNo) is malformed (\(invoice)); whether it is paid is unknown: check it at the API"
    }
}

/// A trade_no lookup read its request budget of list pages without reaching invoices older than
/// the session: the invoice may exist on a page not read, so nothing is known (retry later).
public struct LookupIncomplete: Error, Hashable, Sendable, CustomStringConvertible {
    public let tradeNo: TradeNo
    public let machineID: String
    public let requests: Int
    public let since: Date
    /// The walk so far: `findInvoices(resuming:)` goes on from here.
    public let lookup: TradeNoLookup

    public var description: String {
        "GET /invoices: \(requests) page(s) read so far without reaching invoices created before \(since) "
            + "(looking for trade_no \(tradeNo) of machine \(machineID)); whether it exists is unknown, "
            + "the lookup goes on from page \(lookup.nextPage ?? 0) at its next try"
    }
}
