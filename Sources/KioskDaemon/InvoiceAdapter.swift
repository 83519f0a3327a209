import DripPayAPI
import KioskCore
import Synchronization
import VendSession

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Counts every API request in the metrics by endpoint and HTTP status (or `timeout` /
/// `connection` when no answer came), around the client's real transport.
public struct MeteredTransport: DripPayTransport {
    private let inner: any DripPayTransport
    private let metrics: KioskMetrics
    private let baseURL: String
    private let onTransportFailure: @Sendable () -> Void

    /// - Parameter onTransportFailure: called when a request got no HTTP answer at all (refused,
    ///   reset, timed out): the daemon then checks the API at once instead of at its next health ping.
    public init(
        _ inner: any DripPayTransport, metrics: KioskMetrics, baseURL: String,
        onTransportFailure: @escaping @Sendable () -> Void = {}
    ) {
        self.inner = inner
        self.metrics = metrics
        self.onTransportFailure = onTransportFailure
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
    }

    public func send(_ request: HTTPExchange, timeout: Duration) async throws -> HTTPAnswer {
        let endpoint = Self.endpointName(method: request.method, url: request.url, baseURL: baseURL)
        do {
            let answer = try await inner.send(request, timeout: timeout)
            metrics.apiRequest(endpoint: endpoint, status: String(answer.status))
            return answer
        } catch TransportFailure.timeout {
            metrics.apiRequest(endpoint: endpoint, status: "timeout")
            onTransportFailure()
            throw TransportFailure.timeout
        } catch let failure as TransportFailure {
            metrics.apiRequest(endpoint: endpoint, status: "connection")
            onTransportFailure()
            throw failure
        }
    }

    /// The route name of a request: `ping`, `list`, `create`, `view`, `status`, `cancel`.
    static func endpointName(method: String, url: String, baseURL: String) -> String {
        var path = url.hasPrefix(baseURL) ? String(url.dropFirst(baseURL.count)) : url
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        let parts = path.split(separator: "/")
        switch (method, parts.count) {
        case ("GET", 1) where parts[0] == "ping": return "ping"
        case ("GET", 1): return "list"
        case ("POST", 1): return "create"
        case ("GET", 2): return "view"
        case ("DELETE", 2): return "cancel"
        case ("GET", 3) where parts[2] == "status": return "status"
        default: return "other"
        }
    }
}

/// Measures payment-to-dispense latency: from the API's `paid` answer to the `DISPENSE` line
/// written on the serial port. One vend is served to the controller at a time, so the latest
/// invoice read as paid belongs to the next dispense; a paid invoice that never dispensed
/// (refund due) is replaced by the next one rather than inflating its figure.
public final class DispenseLatency: Sendable {
    private let lastPaid = Mutex<(reference: InvoiceReference, at: ContinuousClock.Instant)?>(nil)
    private let metrics: KioskMetrics

    public init(metrics: KioskMetrics) { self.metrics = metrics }

    /// The API answered `paid` for `reference`; the first answer per invoice counts.
    func paid(_ reference: InvoiceReference) {
        lastPaid.withLock { if $0?.reference != reference { $0 = (reference, .now) } }
    }

    /// The dispense line was written.
    func dispensed() {
        guard
            let start = lastPaid.withLock({ value -> ContinuousClock.Instant? in
                defer { value = nil }
                return value?.at
            })
        else { return }
        metrics.paymentToDispense(start.duration(to: .now))
    }
}

/// The DripPay client as the coordinator's `InvoicePort`. Creates go through
/// `createReconciling` (a lost answer is looked up by trade_no, never blindly repeated);
/// failures are sorted by whether an invoice may exist.
public struct DripPayInvoicePort: InvoicePort {
    private let client: DripPayClient
    private let machineID: String
    private let latency: DispenseLatency?
    /// trade_no walks cut short by their request budget, resumed at the session's next try.
    private let walks = PartialLookups()
    /// Keeps the walks across restarts (the journal): a restart goes on where the last run stopped.
    private let progressStore: (any LookupProgressStore)?

    public init(
        client: DripPayClient, machineID: String, latency: DispenseLatency? = nil,
        progressStore: (any LookupProgressStore)? = nil
    ) {
        self.client = client
        self.machineID = machineID
        self.latency = latency
        self.progressStore = progressStore
    }

    public func createInvoice(
        tradeNo: TradeNo, description: String, price: Money, offerBy: Date
    )
        async throws(InvoiceCreateFailure) -> InvoiceInfo
    {
        try await createInvoice(
            tradeNo: tradeNo, description: description, price: price, offerBy: offerBy, since: Date())
    }

    public func createInvoice(
        tradeNo: TradeNo, description: String, price: Money, offerBy: Date, since: Date
    )
        async throws(InvoiceCreateFailure) -> InvoiceInfo
    {
        let request = CreateInvoiceRequest(
            machineID: machineID, tradeNo: tradeNo, currency: price.currency,
            items: [CreateInvoiceRequest.Item(description: description, amount: price)])
        let invoice: Invoice
        do {
            // Rate-limit waits past the offer deadline fail at once (rateLimited -> unavailable).
            invoice = try await DripPayClient.$requestDeadline.withValue(offerBy) {
                try await client.createReconciling(request, since: since) { [walks, progressStore] walk in
                    // The session looks the trade_no up next: from this walk's page on.
                    walks.keep(walk)
                    progressStore?.save(walk.progress.text, of: tradeNo)
                }
            }
        } catch let error as DripPayError {
            throw Self.createFailure(error)
        } catch {
            // Cancelled while waiting: the request may have gone out.
            throw .outcomeUnknown(message: "create interrupted: \(error)")
        }
        guard let info = Self.info(invoice, price: price) else {
            // The invoice exists (it has a reference): cancel it, never look for it again.
            throw .unusable(
                reference: invoice.reference,
                message:
                    "POST /invoices: the invoice \(invoice.reference) has a total '\(invoice.total.decimal)' that is not an amount in \(price.currency.code)"
            )
        }
        return info
    }

    /// Sorts a create failure (after `createReconciling` has already tried a lookup).
    static func createFailure(_ error: DripPayError) -> InvoiceCreateFailure {
        switch error {
        case .validation:
            return .rejected(message: error.description, requestInvalid: true)
        case .unauthenticated, .forbidden, .invalidBaseURL, .notFound:
            return .rejected(message: error.description, requestInvalid: false)
        case .redirected:
            // The client follows no redirect: nothing was created where the create was meant to go.
            return .rejected(message: error.description, requestInvalid: false)
        case .rateLimited, .budgetRefused:
            // Laravel throttles before the controller runs; the local budget sends nothing.
            return .unavailable(message: error.description)
        case .notConnected:
            // No connection was made (refused, DNS, TLS, proxy): the request never left this machine.
            return .unavailable(message: error.description)
        case .unusableInvoice(_, let reference, _):
            return .unusable(reference: reference, message: error.description)
        case .server, .timeout, .connectionFailed, .unexpectedStatus, .malformedResponse:
            return .outcomeUnknown(message: error.description)
        }
    }

    public func findInvoice(tradeNo: TradeNo, since: Date) async throws -> InvoiceInfo? {
        // `reconcile` also cancels pending duplicates of the same trade_no (of this machine only).
        let found: Invoice?
        var resuming = walks.take(tradeNo)
        if resuming == nil { resuming = try await savedWalk(tradeNo) }
        do {
            found = try await client.reconcile(
                tradeNo: tradeNo, machineID: machineID, since: since, resuming: resuming)
        } catch let incomplete as LookupIncomplete {
            walks.keep(incomplete.lookup)
            progressStore?.save(incomplete.lookup.progress.text, of: tradeNo)
            throw incomplete
        }
        progressStore?.clear(tradeNo)
        guard let invoice = found else { return nil }
        guard let total = Self.total(of: invoice) else {
            throw LookupError.badTotal(tradeNo: tradeNo, reference: invoice.reference, total: invoice.total.decimal)
        }
        return Self.info(invoice, total: total)
    }

    /// The walk an earlier run of the daemon kept for `tradeNo` (none in memory after a restart),
    /// with its matches read again by reference (a 404 drops one: cancelled). A kept text this
    /// version cannot read, or of another machine, is ignored: the walk starts from page 1.
    func savedWalk(_ tradeNo: TradeNo) async throws -> TradeNoLookup? {
        guard let text = progressStore?.progress(of: tradeNo), let progress = TradeNoLookup.Progress(text: text),
            progress.tradeNo == tradeNo.rawValue, progress.machineID == machineID
        else { return nil }
        var invoices: [Invoice] = []
        for match in progress.matches {
            do {
                invoices.append(try await client.invoice(InvoiceReference(match.reference)))
            } catch DripPayError.notFound {
                continue
            }
        }
        return TradeNoLookup(resuming: progress, matches: invoices)
    }

    public func status(of reference: InvoiceReference) async throws -> InvoiceStatus {
        let status: InvoiceStatus
        do {
            status = try await client.status(reference)
        } catch DripPayError.notFound {
            // Cancelled invoices are soft-deleted: the API answers 404 for them from then on. The
            // session decides what that means (after our own cancel: cancelled; otherwise it
            // cancels and re-checks, so a stray 404 can never hide a payment).
            throw InvoiceNotFound(reference: reference)
        }
        if status == .paid { latency?.paid(reference) }
        return status
    }

    /// `GET /invoices/{reference}`: the general route, whose re-checks go first
    /// (`RequestPriority.vend`); the status route's window may be spent by the fleet's polls.
    public func recheck(of reference: InvoiceReference) async throws -> InvoiceStatus {
        let status: InvoiceStatus
        do {
            status = try await client.invoice(reference).status
        } catch DripPayError.notFound {
            throw InvoiceNotFound(reference: reference)
        }
        if status == .paid { latency?.paid(reference) }
        return status
    }

    public func cancel(_ reference: InvoiceReference) async -> CancelOutcome {
        do {
            try await client.cancel(reference)
            return .cancelled
        } catch DripPayError.notFound {
            // Cancelled invoices are soft-deleted: 404 means it is cancelled already.
            return .cancelled
        } catch DripPayError.validation(_, let message, _) {
            // "Only pending invoices can be cancelled.": ask what it is now, on the general route.
            do {
                switch try await client.invoice(reference).status {
                case .paid:
                    latency?.paid(reference)
                    return .alreadyPaid
                case .cancelled: return .cancelled
                case .notPayable(let word):
                    // Not pending, so not cancellable; not paid either: it cannot be paid now.
                    return .notPayable(word)
                case .pending:
                    return .failed("DELETE /invoices/\(reference) refused (\(message)) although the invoice is pending")
                }
            } catch DripPayError.notFound {
                return .cancelled
            } catch {
                return .failed("DELETE /invoices/\(reference) refused (\(message)); status re-check failed: \(error)")
            }
        } catch {
            return .failed(String(describing: error))
        }
    }

    static func info(_ invoice: Invoice, price: Money) -> InvoiceInfo? {
        guard let total = total(of: invoice, digitsIfUnknown: price.currency.minorDigits) else { return nil }
        return info(invoice, total: total)
    }

    /// The invoice's total in the invoice's own currency, never the vend's: an invoice in another
    /// currency ("1.50 XYZ" for a 1.50 USD vend) then differs from the price, and the session
    /// cancels it as a mismatch instead of taking it for the price.
    static func total(of invoice: Invoice, digitsIfUnknown: Int = 2) -> Money? {
        if let money = invoice.total.money { return money }
        let code = invoice.currencyCode.uppercased()
        let currency = Currency(iso: code) ?? Currency(code: code, minorDigits: digitsIfUnknown)
        return try? Money(parsing: invoice.total.decimal, currency: currency, allowingTrailingZeros: true)
    }

    static func info(_ invoice: Invoice, total: Money) -> InvoiceInfo {
        InvoiceInfo(
            reference: invoice.reference, providerInvoiceID: invoice.providerInvoiceID, total: total,
            qrCodeImageURL: invoice.qrCodeImageURL, status: InvoiceStatus(apiValue: invoice.status.apiValue))
    }

    /// A trade_no lookup found an invoice it cannot use.
    enum LookupError: Error, CustomStringConvertible {
        case badTotal(tradeNo: TradeNo, reference: InvoiceReference, total: String)

        var description: String {
            switch self {
            case .badTotal(let tradeNo, let reference, let total):
                return
                    "GET /invoices: invoice \(reference) for trade_no \(tradeNo) has a total '\(total)' that is not an amount; check it at the API"
            }
        }
    }
}

/// The trade_no walks a lookup could not finish within its request budget, by trade_no, so that
/// the session's next try goes on where the last stopped instead of reading page 1 again. At most
/// `capacity` are kept (the oldest is dropped: its lookup then starts again, which is only slower).
final class PartialLookups: Sendable {
    static let capacity = 64
    private let walks = Mutex<[(TradeNo, TradeNoLookup)]>([])

    func take(_ tradeNo: TradeNo) -> TradeNoLookup? {
        walks.withLock { list in
            guard let index = list.firstIndex(where: { $0.0 == tradeNo }) else { return nil }
            return list.remove(at: index).1
        }
    }

    func keep(_ lookup: TradeNoLookup) {
        walks.withLock { list in
            list.removeAll { $0.0 == lookup.tradeNo }
            if list.count >= Self.capacity { list.removeFirst() }
            list.append((lookup.tradeNo, lookup))
        }
    }
}

/// Where trade_no lookups keep how far they read, across restarts (the journal's
/// `trade_no_lookups`). Best effort: a progress lost only makes a lookup start again from page 1.
public protocol LookupProgressStore: Sendable {
    func progress(of tradeNo: TradeNo) -> String?
    func save(_ progress: String, of tradeNo: TradeNo)
    func clear(_ tradeNo: TradeNo)
}
