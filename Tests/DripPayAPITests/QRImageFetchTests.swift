import DripPaySandbox
import Foundation
import KioskCore
import NIOCore
import NIOHTTP1
import NIOPosix
import PayCodeImaging
import PayCodes
import Synchronization
import Testing

@testable import DripPayAPI

/// A second loopback HTTP server for the image tests: answers each request from a route table and
/// records every request's headers, so a test can prove what reached it (never the token).
final class RecordingServer: Sendable {
    struct Seen: Sendable {
        var method: String
        var uri: String
        var headers: [(String, String)]
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }
    struct Reply: Sendable {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var delay: Duration? = nil
    }

    private final class Log: Sendable {
        let seen = Mutex<[Seen]>([])
    }
    private let log = Log()
    private let channel: any Channel
    let port: Int
    var origin: String { "http://127.0.0.1:\(port)" }

    init(route: @escaping @Sendable (Seen) -> Reply) async throws {
        let log = self.log
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(
                        Handler(route: route, record: { s in log.seen.withLock { $0.append(s) } }))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = channel.localAddress!.port!
    }

    func requests() -> [Seen] { log.seen.withLock { $0 } }
    func close() async { try? await channel.close() }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let route: @Sendable (Seen) -> Reply
        let record: @Sendable (Seen) -> Void
        var head: HTTPRequestHead?
        init(route: @escaping @Sendable (Seen) -> Reply, record: @escaping @Sendable (Seen) -> Void) {
            self.route = route
            self.record = record
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h): head = h
            case .body: break
            case .end:
                guard let h = head else { return }
                let s = Seen(method: h.method.rawValue, uri: h.uri, headers: h.headers.map { ($0.name, $0.value) })
                record(s)
                let reply = route(s)
                let respond: @Sendable () -> Void = {
                    [context = NIOLoopBound(context, eventLoop: context.eventLoop), self] in
                    let context = context.value
                    var headers = HTTPHeaders(reply.headers)
                    headers.add(name: "Content-Length", value: "\(reply.body.count)")
                    let head = HTTPResponseHead(
                        version: h.version, status: .init(statusCode: reply.status), headers: headers)
                    context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: reply.body)))), promise: nil)
                    context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                }
                if let delay = reply.delay {
                    context.eventLoop.scheduleTask(
                        in: .nanoseconds(
                            Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds
                                / 1_000_000_000)
                    ) { respond() }
                } else {
                    respond()
                }
            }
        }
    }
}

@Suite("QR image fetch", .serialized)
struct QRImageFetchTests {
    static let token = APIToken("7|fetchTestSecretValue0123456789abcdefghijklmn")
    static let webp: [UInt8] = (try? QRRaster.webp(QRRaster.image("lntb1fetch", scale: 3))) ?? []

    static func fetcher(
        apiBase: String, timeout: Duration = .seconds(2), maxBytes: Int = QRImageFetcher.defaultMaxBytes
    )
        throws -> QRImageFetcher
    {
        try QRImageFetcher(apiBaseURL: apiBase, token: token, timeout: timeout, maxBytes: maxBytes, apiBudget: {})
    }

    @Test("the origin rules: https, http only for loopback, token only to the API's own origin")
    func policy() throws {
        let p = try ImageURLPolicy(apiBaseURL: "https://drippay.example/api/v1")
        #expect(p.sendsToken(to: "https://drippay.example/qr_codes/a.webp"))
        #expect(p.sendsToken(to: "https://DRIPPAY.example:443/qr_codes/a.webp"))
        #expect(!p.sendsToken(to: "https://drippay.example:8443/qr_codes/a.webp"))
        #expect(!p.sendsToken(to: "https://cdn.drippay.example/qr_codes/a.webp"))
        #expect(!p.sendsToken(to: "http://drippay.example/qr_codes/a.webp"))
        #expect(throws: QRImageFetchError.self) { try ImageURLPolicy.origin(of: "http://cdn.example/a.webp") }
        #expect(throws: QRImageFetchError.self) { try ImageURLPolicy.origin(of: "ftp://cdn.example/a.webp") }
        #expect(throws: QRImageFetchError.self) { try ImageURLPolicy.origin(of: "/relative.webp") }
        #expect(try ImageURLPolicy.origin(of: "http://127.0.0.1:8080/a").port == 8080)
        #expect(try p.redirect(from: "https://drippay.example/a", location: "/b") == "https://drippay.example/b")
        #expect(throws: QRImageFetchError.self) {
            try p.redirect(from: "https://drippay.example/a", location: "http://127.0.0.1/b")
        }
    }

    @Test("the sandbox serves the quote as a WebP QR with an ETag; a conditional fetch gets 304")
    func sandboxImage() async throws {
        let tokenValue = APISandbox.generateToken()
        let sandbox = APISandbox(tokens: [tokenValue: Set(Ability.allCases)], quoteSeconds: 30)
        try await sandbox.start()
        let base = await sandbox.baseURL
        let client = try DripPayClient(baseURL: base, token: APIToken(tokenValue), requestTimeout: .seconds(2))
        let invoice = try await client.createInvoice(
            CreateInvoiceRequest(
                machineID: "FETCH-1", tradeNo: TradeNo("T-fetch-1"), currency: Currency(iso: "USD")!,
                items: [.init(description: "Soda", amount: Money(minorUnits: 150, currency: Currency(iso: "USD")!))]))
        let url = try #require(invoice.qrCodeImageURL)
        let fetcher = try QRImageFetcher(
            apiBaseURL: base, token: APIToken(tokenValue), timeout: .seconds(2), apiBudget: {})
        let first = try await fetcher.fetch(url)
        guard case .fresh(let bytes, let type, let etag, _) = first else {
            Issue.record("no image: \(first)")
            await fetcher.shutdown(); await sandbox.stop()
            return
        }
        #expect(type == "image/webp" && etag != nil)
        guard case .text(let text) = try PayCodeReader.read(bytes, contentType: type) else {
            Issue.record("the sandbox image holds no single QR")
            await fetcher.shutdown(); await sandbox.stop()
            return
        }
        let bolt11 = try Bolt11Invoice.decode(text)
        #expect(bolt11.amountMsat == 2301 * 1000)  // 1.50 USD at 1534 sats per unit, rounded up
        #expect(bolt11.expirySeconds == 60)
        #expect(await sandbox.quotes(for: invoice.reference).map(\.bolt11) == [text])
        #expect(try await fetcher.fetch(url, etag: etag) == .notModified)
        await fetcher.shutdown()
        await sandbox.stop()
    }

    @Test("the token never reaches another origin, not even through a redirect from the API's")
    func tokenStaysHome() async throws {
        let other = try await RecordingServer { _ in
            .init(status: 200, headers: [("Content-Type", "image/webp")], body: Self.webp)
        }
        let api = try await RecordingServer { seen in
            seen.uri.hasPrefix("/redirect")
                ? .init(status: 302, headers: [("Location", "http://127.0.0.1:\(other.port)/elsewhere.webp")])
                : .init(status: 200, headers: [("Content-Type", "image/webp")], body: Self.webp)
        }
        // The API on one loopback port; "localhost" is a different host, so another origin.
        let fetcher = try Self.fetcher(apiBase: "\(api.origin)/api/v1")
        _ = try await fetcher.fetch("\(api.origin)/qr_codes/own.webp")
        _ = try await fetcher.fetch("\(api.origin)/redirect")
        _ = try await fetcher.fetch("\(other.origin)/direct.webp")
        _ = try await fetcher.fetch("http://localhost:\(api.port)/qr_codes/by-name.webp")
        await fetcher.shutdown()
        let apiSeen = api.requests(), otherSeen = other.requests()
        #expect(apiSeen.count == 3 && otherSeen.count == 2)
        #expect(
            apiSeen.first { $0.uri == "/qr_codes/own.webp" }?.header("Authorization")
                == "Bearer \(Self.token.bearerValue)")
        #expect(apiSeen.first { $0.uri == "/qr_codes/by-name.webp" }?.header("Authorization") == nil)
        #expect(otherSeen.allSatisfy { $0.header("Authorization") == nil })
        for seen in otherSeen {
            #expect(!seen.headers.contains { $0.1.contains("fetchTestSecret") })
        }
        await api.close()
        await other.close()
    }

    @Test("404, 5xx, a slow answer, an oversized one and too many redirects fail with the URL named")
    func failures() async throws {
        let server = try await RecordingServer { seen in
            switch seen.uri {
            case "/missing.webp": return .init(status: 404)
            case "/broken.webp": return .init(status: 503)
            case "/slow.webp": return .init(status: 200, body: Self.webp, delay: .seconds(3))
            case "/huge.webp": return .init(status: 200, body: [UInt8](repeating: 0, count: 4096))
            default:
                let n = Int(seen.uri.dropFirst(5)) ?? 0  // /loopN
                return .init(status: 301, headers: [("Location", "/loop\(n + 1)")])
            }
        }
        let fetcher = try Self.fetcher(apiBase: "https://drippay.example/api/v1", timeout: .seconds(1), maxBytes: 1024)
        let o = server.origin
        await #expect(throws: QRImageFetchError.status("\(o)/missing.webp", 404)) {
            try await fetcher.fetch("\(o)/missing.webp")
        }
        await #expect(throws: QRImageFetchError.status("\(o)/broken.webp", 503)) {
            try await fetcher.fetch("\(o)/broken.webp")
        }
        await #expect(throws: QRImageFetchError.timeout("\(o)/slow.webp", after: .seconds(1))) {
            try await fetcher.fetch("\(o)/slow.webp")
        }
        await #expect(throws: QRImageFetchError.tooLarge("\(o)/huge.webp", limit: 1024)) {
            try await fetcher.fetch("\(o)/huge.webp")
        }
        await #expect(throws: QRImageFetchError.tooManyRedirects("\(o)/loop0", limit: 3)) {
            try await fetcher.fetch("\(o)/loop0")
        }
        #expect(server.requests().filter { $0.uri.hasPrefix("/loop") }.count == 4)
        #expect(QRImageFetchError.status("\(o)/missing.webp", 404).description.contains("/missing.webp"))
        await fetcher.shutdown()
        await server.close()
    }
}
