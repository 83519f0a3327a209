import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The documented answer bodies of the DripPay API, for callers outside the client (the fuzz
/// harness): each decodes exactly as the client does, throwing what the client would report.
public enum APIAnswerShape: String, CaseIterable, Sendable {
    /// `GET /invoices/{reference}` and `POST /invoices`: `{"data": invoice}`.
    case invoice
    /// `GET /invoices`: a Laravel page of invoices.
    case invoicePage
    /// `GET /invoices/{reference}/status`.
    case status
    /// `GET /ping`.
    case ping
    /// `DELETE /invoices/{reference}` and error bodies: `{"message": ...}`.
    case message
}

/// Why a body did not decode: the JSON path and what was expected there.
public struct APIAnswerMalformed: Error, Hashable, Sendable, CustomStringConvertible {
    public let expected: String
    public var description: String { "malformed answer: expected \(expected)" }
}

public enum APIAnswerDecoder {
    /// Decodes `body` as `shape`; the value is returned type-erased (the harness only needs
    /// "decodes or throws").
    public static func decode(_ shape: APIAnswerShape, _ body: [UInt8]) throws(APIAnswerMalformed) -> any Sendable {
        do throws(DecodeFailure) {
            let node = try JSONNode.parse(body)
            switch shape {
            case .invoice: return try Invoice(json: node.field("data"))
            case .invoicePage: return try InvoicePage(json: node)
            case .status: return InvoiceStatus(apiValue: try node.string("status"))
            case .ping: return try PingResponse(json: node)
            case .message:
                _ = LaravelError(bytes: body)
                return try node.string("message")
            }
        } catch {
            throw APIAnswerMalformed(expected: error.expected)
        }
    }
}
