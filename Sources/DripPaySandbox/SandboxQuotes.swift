import KioskCore
import PayCodes

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One Strike-like quote of an invoice: a BOLT11 request that is payable until its expiry.
public struct SandboxQuote: Hashable, Sendable {
    /// The request, lower case, without `lightning:`.
    public let bolt11: String
    public let paymentHash: String
    /// Seconds since 1970 (whole seconds, as BOLT11 writes them).
    public let timestamp: Int64
    public let expiresAt: Int64
    /// The QR image served for it (lossless WebP), made once.
    let webp: [UInt8]
    /// 0 for the first quote of an invoice, then 1, 2, ...
    public let sequence: Int
}

/// What `POST /_sandbox/wallet/pay` made of a scanned text.
public enum WalletPayment: Hashable, Sendable {
    case paid(reference: String)
    case unknownRequest
    case expired(expiredAt: Int64)
    case notPayable(reference: String, status: SandboxInvoice.Status)
}

/// The sandbox's fixed price of bitcoin: 1534 sats per unit of the invoice's currency (the API
/// document's example), the same rate its `payment.amount` uses.
enum SandboxRate {
    static func sats(cents: Int64) -> Int64 { (cents * 1534 + 99) / 100 }
}

/// Strike re-prices a fiat invoice with a new Lightning quote every so often; the sandbox does the
/// same, lazily: a quote is issued when the invoice's image is asked for and the current one is
/// older than `quoteSeconds`. Each quote stays payable for `2 * quoteSeconds` (so the code a
/// customer scanned just before a rotation can still be paid, as on Lightning, where a
/// superseded request is valid until its own expiry).
struct QuoteBook: Sendable {
    var quoteSeconds: Int = 30
    /// How long each quote stays payable; nil: `2 * quoteSeconds`. Strike's own timing is a
    /// lifetime equal to the period (the next quote comes when the last one dies).
    var quoteLifetime: Int?
    /// Invoice index -> its quotes, oldest first.
    var byInvoice: [Int: [SandboxQuote]] = [:]
    /// Lower-case request -> (invoice index, quote position).
    var byRequest: [String: (invoice: Int, quote: Int)] = [:]
    /// Makes the WebP image of a request (set by the actor; nil: no image).
    var render: (@Sendable (String) -> [UInt8]?)?
    private var random = QuoteRandom(seed: 0x5eed_0f_d21b)

    var lifetimeSeconds: Int64 { Int64(quoteLifetime ?? quoteSeconds * 2) }

    /// The quote current at `now` for the invoice, issuing one if due.
    mutating func current(invoice index: Int, _ invoice: SandboxInvoice, now: Date) -> SandboxQuote? {
        let created = Int64(invoice.createdAt.timeIntervalSince1970.rounded(.down))
        let elapsed = max(0, Int64(now.timeIntervalSince1970.rounded(.down)) - created)
        let due = Int(elapsed / Int64(max(1, quoteSeconds)))
        var book = byInvoice[index] ?? []
        if let last = book.last, last.sequence >= due || invoice.status != .pending { return last }
        let timestamp = created + Int64(due) * Int64(max(1, quoteSeconds))
        let hash = random.bytes(32)
        let text = Bolt11Invoice.encode(
            network: "tb", amountMsat: UInt64(SandboxRate.sats(cents: invoice.totalCents)) * 1000,
            timestamp: UInt64(timestamp), paymentHash: hash, paymentSecret: random.bytes(32),
            description: "DripPay sandbox \(invoice.reference) quote \(due)", expirySeconds: UInt64(lifetimeSeconds),
            signature: random.bytes(65))
        guard let webp = render?(text) else { return nil }
        let quote = SandboxQuote(
            bolt11: text, paymentHash: Bolt11Invoice.hex(hash), timestamp: timestamp,
            expiresAt: timestamp + lifetimeSeconds, webp: webp, sequence: due)
        book.append(quote)
        byInvoice[index] = book
        byRequest[text] = (index, book.count - 1)
        return quote
    }

    /// The quote a scanned text names, if the sandbox issued it.
    func quote(forScanned text: String) -> (invoice: Int, quote: SandboxQuote)? {
        let bare = LightningText.stripScheme(text.trimmingWhitespaceAndNewlines()).lowercased()
        guard let at = byRequest[bare], let book = byInvoice[at.invoice] else { return nil }
        return (at.invoice, book[at.quote])
    }
}

/// A small deterministic generator for hashes and fake signatures (SplitMix64).
struct QuoteRandom: Sendable {
    private var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    mutating func bytes(_ n: Int) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < n { withUnsafeBytes(of: next()) { out += $0 } }
        return Array(out.prefix(n))
    }
}

extension SandboxState {
    /// `GET /qr_codes/<provider_invoice_id>.webp`: the current quote as a WebP QR, with an ETag.
    mutating func qrImage(request: SandboxRequest, name: String, now: Date) -> SandboxResponse {
        guard name.hasSuffix(".webp"),
            let index = invoices.firstIndex(where: { $0.providerInvoiceID == String(name.dropLast(5)) }),
            !invoices[index].deleted || cancelledInvoicesVisible
        else {
            return SandboxResponse(
                status: 404, headers: [("Content-Type", "text/plain")], body: Array("Not Found".utf8))
        }
        guard let quote = quotes.current(invoice: index, invoices[index], now: now) else {
            return .message(500, "The sandbox could not draw the QR image.")
        }
        let etag = "\"\(quote.paymentHash.prefix(16))\""
        let headers = [("ETag", etag), ("Cache-Control", "no-cache")]
        if let match = request.header("If-None-Match"),
            match.split(separator: ",").contains(where: { $0.trimmingWhitespace() == etag })
        {
            return SandboxResponse(status: 304, headers: headers, body: [])
        }
        return SandboxResponse(status: 200, headers: [("Content-Type", "image/webp")] + headers, body: quote.webp)
    }

    /// `POST /_sandbox/wallet/pay` with the scanned text as the body: pays like a wallet would.
    mutating func walletPay(scanned: String, now: Date) -> WalletPayment {
        guard let found = quotes.quote(forScanned: scanned) else { return .unknownRequest }
        let (index, quote) = found
        guard Int64(now.timeIntervalSince1970.rounded(.down)) < quote.expiresAt else {
            return .expired(expiredAt: quote.expiresAt)
        }
        let reference = invoices[index].reference
        guard invoices[index].status == .pending, !invoices[index].deleted else {
            return .notPayable(reference: reference, status: invoices[index].status)
        }
        _ = pay(index: index, at: now)
        return .paid(reference: reference)
    }

    func walletResponse(_ payment: WalletPayment) -> SandboxResponse {
        switch payment {
        case .paid(let reference): return .message(200, "Paid invoice \(reference).")
        case .unknownRequest: return .message(404, "The sandbox never issued this payment request.")
        case .expired(let at):
            return .message(
                410, "This payment request expired at \(Self.iso8601(Date(timeIntervalSince1970: TimeInterval(at)))).")
        case .notPayable(let reference, let status):
            return .message(409, "Invoice \(reference) is \(status.rawValue) and cannot be paid.")
        }
    }
}
