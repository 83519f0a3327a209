import KioskCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PayCodeImaging
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A fake DripPay API on 127.0.0.1 that behaves like the real Laravel/Sanctum application:
/// tokens and abilities, validation, fixed-window throttles, the Laravel paginator, soft-deleting
/// cancel. It also simulates payment (a pay page per invoice, auto-pay, `pay(_:)`) and injects
/// faults (latency, 5xx, dropped creates, garbage bodies, 429 storms, going down) for tests, and
/// records what it saw for assertions.
///
/// Cancelled invoices are soft-deleted as Laravel's `SoftDeletes` does: afterwards the invoice
/// answers 404 and leaves the list, unless `cancelledInvoicesVisible` is set. Cancelling a paid
/// invoice answers 422 `{"message":"Only pending invoices can be cancelled."}`.
public actor APISandbox {
    private var state: SandboxState
    private let logger: Logger
    private let clock = ContinuousClock()
    private let clockOrigin: ContinuousClock.Instant
    /// While serving: the listener, its open connections and the task that serves them.
    private var running: (server: ServerChannel, connections: Connections, task: Task<Void, Never>)?
    private var boundPort: Int?

    private typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    private typealias ServerChannel = NIOAsyncChannel<Connection, Never>

    /// - Parameters:
    ///   - tokens: token value (`{id}|{secret}`) -> its abilities.
    ///   - requestsPerMinute, statusRequestsPerMinute: the server's fixed-window limits per token.
    ///   - throttleWindow: the window length (60 s on the real API; shorter in tests).
    public init(
        tokens: [String: Set<Ability>], requestsPerMinute: Int = 60, statusRequestsPerMinute: Int = 600,
        throttleWindow: Duration = .seconds(60), cancelledInvoicesVisible: Bool = false, quoteSeconds: Int = 30,
        logger: Logger = Logger(label: "drippay-kiosk.sandbox")
    ) {
        state = SandboxState(
            tokens: tokens, requestsPerMinute: requestsPerMinute, statusRequestsPerMinute: statusRequestsPerMinute,
            throttleWindow: throttleWindow, cancelledInvoicesVisible: cancelledInvoicesVisible)
        state.quotes.quoteSeconds = max(1, quoteSeconds)
        // 4 pixels per module and a 4-module quiet zone: what a provider's QR picture looks like.
        state.quotes.render = { text in try? QRRaster.webp(QRRaster.image(text, scale: 4)) }
        self.logger = logger
        clockOrigin = clock.now
    }

    /// A fresh token in the API's `{id}|{secret}` format.
    public static func generateToken() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return "\(Int.random(in: 1...999, using: &generator))|"
            + String((0..<40).map { _ in alphabet.randomElement(using: &generator)! })
    }

    // MARK: Lifecycle

    /// Binds 127.0.0.1:`port` (0 = any free port) and serves until `stop()`. Returns the bound port.
    @discardableResult
    public func start(port: Int = 0) async throws -> Int {
        precondition(running == nil, "the sandbox is already running")
        let connections = Connections()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    let connection = try Connection(wrappingChannelSynchronously: channel)
                    connections.accepted(channel)
                    return connection
                }
            }
        guard let bound = server.channel.localAddress?.port else {
            try? await server.channel.close()
            throw SandboxError.bindFailed(port: port)
        }
        boundPort = bound
        state.origin = "http://127.0.0.1:\(bound)"
        running = (server, connections, Task { await self.serve(server) })
        logger.info("sandbox listening", metadata: ["base_url": "\(baseURL)"])
        return bound
    }

    /// Closes the listening socket and every open connection.
    ///
    /// The accept loop is not cancelled: NIO traps on an accepted connection that is dropped
    /// unserved ("Deinited NIOAsyncWriter without calling finish()"), and a cancelled loop drops
    /// the ones still queued. Instead the listener closes, so the loop hands out what it queued
    /// and ends; every connection is closed and its task cancelled.
    public func stop() async {
        guard let (server, connections, task) = running else { return }
        running = nil
        connections.closeAll()
        try? await server.channel.close()
        await task.value
    }

    /// Goes down: connections are refused (and open ones closed) until `comeUp()`.
    public func goDown() async { await stop() }

    /// Comes back up on the same port.
    public func comeUp() async throws {
        guard let boundPort else { throw SandboxError.neverStarted }
        try await start(port: boundPort)
    }

    /// True while serving.
    public var isUp: Bool { running != nil }

    /// The bound port (nil before `start`).
    public var port: Int? { boundPort }

    /// `http://127.0.0.1:PORT`.
    public var origin: String { state.origin }

    /// `http://127.0.0.1:PORT/api/v1`.
    public var baseURL: String { "\(state.origin)/api/v1" }

    /// Where a customer pays this invoice (what the demo's QR encodes).
    public func payURL(for reference: InvoiceReference) -> String { "\(state.origin)/pay/\(reference.rawValue)" }

    // MARK: Payment

    /// Pays a pending invoice. Returns false when it is unknown, cancelled or already paid.
    @discardableResult
    public func pay(_ reference: InvoiceReference) -> Bool {
        let index = state.byReference[reference.rawValue.lowercased()]
        let before = index.map { state.invoices[$0].status }
        return before == .pending && state.pay(reference: reference.rawValue.lowercased(), now: Date()) == .paid
    }

    /// Pays like a wallet that scanned `text` (a BOLT11 request, with or without `lightning:`,
    /// any case): what `POST /_sandbox/wallet/pay` does.
    @discardableResult
    public func walletPay(_ text: String) -> WalletPayment { state.walletPay(scanned: text, now: Date()) }

    /// Every quote issued for the invoice, oldest first (each one served as its QR image).
    public func quotes(for reference: InvoiceReference) -> [SandboxQuote] {
        guard let index = state.byReference[reference.rawValue.lowercased()] else { return [] }
        return state.quotes.byInvoice[index] ?? []
    }

    /// How often a new quote is issued (each stays payable twice as long, unless `setQuoteLifetime`).
    public func setQuoteSeconds(_ seconds: Int) { state.quotes.quoteSeconds = max(1, seconds) }

    /// How long each quote stays payable (nil: twice the quote period). Equal to the period is
    /// Strike's timing: the old request dies as the new one is issued.
    public func setQuoteLifetime(_ seconds: Int?) { state.quotes.quoteLifetime = seconds.map { max(1, $0) } }

    /// Pays every new invoice this long after its creation (nil: never).
    public func setAutoPay(after delay: Duration?) { state.autoPayAfter = delay }

    // MARK: Faults

    /// Delays every API answer by `latency` (the request is carried out first, then answered late).
    public func setLatency(_ latency: Duration?) { state.faults.latency = latency }

    /// Delays only `POST /invoices` answers by `latency` (stored first, answered late): a slow create.
    public func setCreateLatency(_ latency: Duration?) { state.faults.createLatency = latency }

    /// Moves the creation time of every invoice so far `seconds` into the past (older sessions),
    /// and `spacing` apart in creation order (the API's times have whole seconds only).
    public func backdateInvoices(by seconds: TimeInterval, spacing: TimeInterval = 1) {
        let count = state.invoices.count
        for index in state.invoices.indices {
            state.invoices[index].createdAt = Date().addingTimeInterval(-seconds - Double(count - 1 - index) * spacing)
        }
    }

    /// Lists invoices oldest first (true) or newest first (false, the default).
    public func setListOldestFirst(_ value: Bool) { state.listOldestFirst = value }

    /// The next `count` API requests answer `status` (5xx) without doing anything.
    public func failNextRequests(_ count: Int, status: Int = 500) {
        state.faults.serverErrors = count
        state.faults.serverErrorStatus = status
    }

    /// The next `count` API requests answer 200 with a body that is not JSON.
    public func answerGarbage(next count: Int) { state.faults.garbage = count }

    /// The next `count` API requests answer `301 Moved Permanently` (the client must not follow).
    public func redirect(next count: Int) { state.faults.redirects = count }

    /// While set, every pending invoice reads as `word` (`expired`, `failed`, ...) and refuses a
    /// cancel with 422; a payment still goes through. nil: the real statuses again.
    public func setStatusWord(_ word: String?) { state.faults.statusWord = word }

    /// Adds `count` pending invoices of `machineID`, created now (newer than every invoice so far),
    /// `malformed` ones rendered broken in lists. Returns their references, oldest first.
    @discardableResult
    public func addInvoices(count: Int, machineID: String, malformed: Bool = false) -> [String] {
        let references = state.addInvoices(count: count, machineID: machineID, now: Date())
        if malformed { state.faults.malformedReferences.formUnion(references) }
        return references
    }

    /// After every list read, cancels (soft-deletes) the `count` newest pending invoices of
    /// machines other than `sparing`: offsets shift between two page reads. 0 turns it off.
    public func deleteBetweenPageReads(_ count: Int, sparing machineID: String) {
        state.faults.deletesPerListRead = max(0, count)
        state.faults.deleteSparing = machineID
        state.faults.deleteOnly = nil
    }

    /// After every list read, cancels the `count` newest pending invoices of `machineID` only.
    public func deleteBetweenPageReads(_ count: Int, only machineID: String) {
        state.faults.deletesPerListRead = max(0, count)
        state.faults.deleteSparing = ""
        state.faults.deleteOnly = machineID
    }

    /// The status word the API gives for an invoice now (with the `setStatusWord` fault applied).
    public func statusWordOf(_ reference: String) -> String? {
        state.byReference[reference.lowercased()].map { state.statusWord(state.invoices[$0]) }
    }

    /// A cancel soft-deletes the invoice (404 from then on) but a payment still goes through.
    public func setSoftDeletedStillPayable(_ value: Bool) { state.faults.softDeletedStillPayable = value }

    /// The next `count` authenticated API requests answer 429 with `Retry-After: retryAfter`.
    public func forceRateLimit(next count: Int, retryAfter: Int) {
        state.faults.rateLimitStorm = count
        state.faults.rateLimitRetryAfter = retryAfter
    }

    /// Queues a fault for the next valid `POST /invoices`.
    public func injectCreateFault(_ fault: CreateFault) { state.faults.createFaults.append(fault) }

    /// Adds or replaces a token.
    public func setToken(_ token: String, abilities: Set<Ability>) { state.tokens[token] = abilities }

    // MARK: Inspection

    /// Every request seen (bounded to the most recent 50 000), oldest first.
    public func requests() -> [SandboxRequestRecord] { state.requests }

    /// Every invoice ever created, cancelled ones included, oldest first.
    public func invoices() -> [SandboxInvoice] {
        state.settleAutoPay(now: Date())
        return state.invoices
    }

    /// How many pending or paid invoices carry this trade_no.
    public func liveInvoiceCount(tradeNo: String) -> Int {
        state.settleAutoPay(now: Date())
        return state.invoices.filter { $0.tradeNo == tradeNo && $0.isLive }.count
    }

    // MARK: Serving

    private func handle(_ request: SandboxRequest) -> (SandboxOutcome, Duration?) {
        let outcome = state.handle(request, monotonic: clockOrigin.duration(to: clock.now), now: Date())
        guard request.path.hasPrefix("/api/") else { return (outcome, nil) }
        let isCreate =
            request.method == "POST" && (request.path == "/api/v1/invoices" || request.path == "/api/v1/invoices/")
        if isCreate, let slow = state.faults.createLatency { return (outcome, slow + (state.faults.latency ?? .zero)) }
        return (outcome, state.faults.latency)
    }

    private nonisolated func serve(_ server: ServerChannel) async {
        do {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await self.serveConnection(connection) }
                    }
                    // The listener closed (`stop()`): every queued connection was handed out;
                    // end the ones still being served (a latency fault's sleep, say).
                    group.cancelAll()
                }
            }
        } catch {
            logger.error("sandbox server stopped", metadata: ["error": "\(error)"])
        }
    }

    private nonisolated func serveConnection(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let h):
                    head = h
                    body = []
                case .body(let bytes):
                    body += bytes.readableBytesView
                case .end:
                    guard let h = head else { return }
                    let request = SandboxRequest(
                        method: h.method.rawValue, uri: h.uri, headers: h.headers.map { ($0.name, $0.value) },
                        body: body)
                    let (outcome, latency) = await self.handle(request)
                    if let latency { try await Task.sleep(for: latency) }
                    guard case .respond(let r) = outcome else { return }  // drop: close unanswered
                    var headers = HTTPHeaders(r.headers)
                    headers.add(name: "Content-Length", value: "\(r.body.count)")
                    if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
                    let status = HTTPResponseStatus(statusCode: r.status)
                    try await outbound.write(
                        .head(HTTPResponseHead(version: h.version, status: status, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: r.body))))
                    try await outbound.write(.end(nil))
                    if !h.isKeepAlive { return }
                }
            }
        }
    }
}

/// The sandbox's open connections, so that `stop()` can close them: accepted on the event loop,
/// forgotten when they close. After `closeAll()` a connection accepted late is closed at once.
private final class Connections: Sendable {
    private struct Open {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }
    private let open = Mutex(Open())

    func accepted(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let late = open.withLock { open in
            if open.closing { return true }
            open.channels[id] = channel
            return false
        }
        if late {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { _ in self.open.withLock { _ = $0.channels.removeValue(forKey: id) } }
    }

    func closeAll() {
        let channels = open.withLock { open in
            open.closing = true
            defer { open.channels = [:] }
            return Array(open.channels.values)
        }
        for channel in channels { channel.close(promise: nil) }
    }
}

/// Why the sandbox could not serve.
public enum SandboxError: Error, CustomStringConvertible {
    case bindFailed(port: Int)
    case neverStarted

    public var description: String {
        switch self {
        case .bindFailed(let port): return "sandbox: could not bind 127.0.0.1:\(port); choose another --port"
        case .neverStarted: return "sandbox: comeUp() before start()"
        }
    }
}
