import DripPaySandbox
import Foundation
import KioskCore
import KioskTestSupport
import Testing

@testable import DripPayAPI

/// A private CA and two server certificates, made with the `openssl` command line: `server`
/// for the name localhost (signed by `ca`), and `stranger`, a CA of its own that trusts nothing.
struct TestPKI {
    let directory: String
    var caFile: String { directory + "/ca.pem" }
    var strangerCAFile: String { directory + "/stranger-ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }

    static func make() async throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "drippay-pki-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pki = TestPKI(directory: directory)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try await openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=DripPay test CA",
            ], in: directory)
        try await openssl(
            ["req", "-x509"] + ec + [
                "-keyout", "stranger-ca.key", "-out", "stranger-ca.pem", "-days", "2", "-subj", "/CN=Stranger CA",
            ], in: directory)
        try await openssl(
            ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: directory)
        try "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".write(
            toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        try await openssl(
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
            ], in: directory)
        return pki
    }

    private static func openssl(_ arguments: [String], in directory: String) async throws {
        let result = try await ChildProcess.run(
            "/usr/bin/env", ["sh", "-c", "cd \"$0\" && exec openssl \"$@\"", directory] + arguments)
        guard result.status == 0 else {
            throw LoopbackPeer.PeerError(description: "openssl \(arguments.joined(separator: " ")): \(result.stderr)")
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// The daemon's client over HTTPS (a private CA), through an HTTP CONNECT proxy, and against a
/// server that stalls mid-body: every peer a real process on loopback (python3's ssl is OpenSSL,
/// as libcurl's is), the API behind them the NIO sandbox.
@Suite("HTTPS, proxies and timeouts over libcurl", .serialized)
struct HTTPSAndProxyTests {
    struct Rig {
        let pki: TestPKI
        let sandbox: APISandbox
        let tls: LoopbackPeer

        static func start() async throws -> Rig {
            let pki = try await TestPKI.make()
            let sandbox = APISandbox(tokens: [fullToken: Set(Ability.allCases)])
            let port = try await sandbox.start()
            let tls = try await LoopbackPeer.start(["tls-forward", pki.serverCertificate, pki.serverKey, "\(port)"])
            return Rig(pki: pki, sandbox: sandbox, tls: tls)
        }

        func client(
            host: String = "localhost", caFile: String? = nil, proxy: String? = nil
        ) throws -> DripPayClient {
            let base = "https://\(host):\(tls.port)/api/v1"
            return try DripPayClient(
                baseURL: base, token: APIToken(fullToken), requestTimeout: .seconds(5),
                transport: CurlTransport(options: .init(caFile: caFile, proxy: proxy), tokenOrigin: base))
        }

        func finish() async {
            tls.stop()
            await sandbox.stop()
            pki.remove()
        }
    }

    @Test func thePrivateCAInCaFileIsTrustedAndEveryEndpointWorksOverHTTPS() async throws {
        let rig = try await Rig.start()
        let client = try rig.client(caFile: rig.pki.caFile)
        let pong = try await client.ping()
        #expect(pong.message == "pong")
        let invoice = try await client.createInvoice(sodaRequest("T-https"))
        #expect(try await client.status(invoice.reference) == .pending)
        try await client.cancel(invoice.reference)
        #expect(await rig.sandbox.requests().map(\.status) == [200, 201, 200, 200])
        // One TLS connection carried all four requests (kept alive).
        #expect(rig.tls.lines.filter { $0 == "handshake" }.count == 1, "\(rig.tls.lines)")
        await rig.finish()
    }

    @Test func aCertificateFromAnUnknownCAIsRefusedBeforeAnythingIsSent() async throws {
        let rig = try await Rig.start()
        for caFile in [nil, rig.pki.strangerCAFile] {
            let error = await #expect(throws: DripPayError.self) { _ = try await rig.client(caFile: caFile).ping() }
            guard case .notConnected(_, .tls(.untrustedCertificate(let verify), _))? = error else {
                Issue.record("got \(String(describing: error))")
                continue
            }
            #expect(verify != 0, "OpenSSL's verify result names why")
            #expect(error?.outcomeUnknown == false)
            #expect(error?.description.contains("not trusted") == true)
            #expect(error?.description.contains("set [api] ca_file") == true)
        }
        #expect(await rig.sandbox.requests().isEmpty, "nothing reached the API")
        await rig.finish()
    }

    @Test func aCertificateForAnotherHostNameIsRefusedBeforeAnythingIsSent() async throws {
        let rig = try await Rig.start()
        // The certificate names localhost only; the URL names 127.0.0.1.
        let error = await #expect(throws: DripPayError.self) {
            _ = try await rig.client(host: "127.0.0.1", caFile: rig.pki.caFile).ping()
        }
        guard case .notConnected(_, .tls(.hostNameMismatch, let detail))? = error else {
            Issue.record("got \(String(describing: error))")
            await rig.finish()
            return
        }
        #expect(detail.contains("127.0.0.1"), "libcurl's detail names the host: \(detail)")
        #expect(error?.description.contains("[api] base_url must use a host name the certificate names") == true)
        #expect(await rig.sandbox.requests().isEmpty)
        await rig.finish()
    }

    @Test func throughAConnectProxyTheRequestAndTheTokenStayInsideTheTunnel() async throws {
        let rig = try await Rig.start()
        let secret = String(fullToken.split(separator: "|")[1])
        let proxy = try await LoopbackPeer.start(["connect-proxy", "--watch", secret])
        let client = try rig.client(caFile: rig.pki.caFile, proxy: "http://127.0.0.1:\(proxy.port)")
        #expect(try await client.ping().message == "pong")
        _ = try await client.createInvoice(sodaRequest("T-proxied"))
        let heads = proxy.lines.filter { $0.hasPrefix("{") }
        #expect(heads.count == 1, "one tunnel, kept alive: \(heads)")
        #expect(heads.first?.contains("CONNECT localhost:\(rig.tls.port) HTTP/1.1") == true)
        #expect(proxy.lines.allSatisfy { !$0.contains("Authorization") && !$0.contains(secret) })
        #expect(!proxy.lines.contains("saw-watched"), "the token never passed the proxy in clear")
        #expect(await rig.sandbox.requests().count == 2)
        proxy.stop()
        await rig.finish()
    }

    @Test func aProxyThatRefusesTheTunnelOrIsDownMeansNothingWasSent() async throws {
        let rig = try await Rig.start()
        let proxy = try await LoopbackPeer.start(["connect-proxy", "--refuse"])
        let refusing = try rig.client(caFile: rig.pki.caFile, proxy: "http://127.0.0.1:\(proxy.port)")
        let refused = await #expect(throws: DripPayError.self) {
            _ = try await refusing.createInvoice(sodaRequest("T-no-tunnel"))
        }
        guard case .notConnected(_, .proxy(.tunnelRefused(status: 403)))? = refused else {
            Issue.record("got \(String(describing: refused))")
            proxy.stop()
            await rig.finish()
            return
        }
        #expect(refused?.outcomeUnknown == false)
        proxy.stop()
        let down = try rig.client(caFile: rig.pki.caFile, proxy: "http://ops:hunter2@127.0.0.1:1")
        let unreachable = await #expect(throws: DripPayError.self) { _ = try await down.ping() }
        guard case .notConnected(_, .proxy(.unreachable(let name, _)))? = unreachable else {
            Issue.record("got \(String(describing: unreachable))")
            await rig.finish()
            return
        }
        #expect(name == "http://***@127.0.0.1:1", "the proxy's password is never shown")
        #expect(unreachable?.description.contains("hunter2") == false)
        #expect(await rig.sandbox.requests().isEmpty)
        await rig.finish()
    }

    @Test func anAnswerThatStallsMidBodyTimesOutAtTheRequestTimeout() async throws {
        let stall = try await LoopbackPeer.start(["stall-body"])
        let base = "http://127.0.0.1:\(stall.port)/api/v1"
        let client = try DripPayClient(baseURL: base, token: APIToken(fullToken), requestTimeout: .milliseconds(400))
        let started = ContinuousClock.now
        await #expect(throws: DripPayError.timeout(Endpoint(method: "GET", path: "/ping"), after: .milliseconds(400))) {
            _ = try await client.ping()
        }
        let took = ContinuousClock.now - started
        #expect(took >= .milliseconds(350) && took < .seconds(2), "the timeout covers the body: \(took)")
        #expect(await stall.line(matching: { $0 == "client-closed" }) != nil, "the connection was closed")

        // The QR image fetch: one timeout over the whole fetch, body included.
        let fetcher = try QRImageFetcher(
            apiBaseURL: base, token: APIToken(fullToken), timeout: .milliseconds(400), apiBudget: {})
        await #expect(throws: QRImageFetchError.timeout("\(base)/qr.webp", after: .milliseconds(400))) {
            _ = try await fetcher.fetch("\(base)/qr.webp")
        }
        stall.stop()
    }

    @Test func cancellingTheTaskEndsARequestInFlight() async throws {
        let stall = try await LoopbackPeer.start(["stall-body"])
        let base = "http://127.0.0.1:\(stall.port)/api/v1"
        let client = try DripPayClient(baseURL: base, token: APIToken(fullToken), requestTimeout: .seconds(30))
        let request = Task { try await client.ping() }
        #expect(await stall.line(matching: { $0 == "request" }) != nil)
        let started = ContinuousClock.now
        request.cancel()
        let result = await request.result
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(
            await stall.line(matching: { $0 == "client-closed" }) != nil, "the easy handle left, its connection closed")
        stall.stop()
    }

    @Test func theTokenGoesOnlyToTheAPIsOriginWhateverTheCallerAdds() async throws {
        let api = try await RecordingServer { _ in .init(status: 200, body: Array("{}".utf8)) }
        let other = try await RecordingServer { _ in .init(status: 200, body: Array("{}".utf8)) }
        let transport = CurlTransport(tokenOrigin: "\(api.origin)/api/v1")
        let headers = [("Authorization", "Bearer \(fullToken)"), ("Accept", "application/json")]
        for url in ["\(api.origin)/api/v1/ping", "\(other.origin)/x", "http://localhost:\(api.port)/y"] {
            _ = try await transport.send(HTTPExchange(method: "GET", url: url, headers: headers), timeout: .seconds(2))
        }
        #expect(api.requests().first { $0.uri == "/api/v1/ping" }?.header("Authorization") == "Bearer \(fullToken)")
        #expect(api.requests().first { $0.uri == "/y" }?.header("Authorization") == nil)
        #expect(other.requests().count == 1 && other.requests().allSatisfy { $0.header("Authorization") == nil })
        #expect(other.requests().first?.header("Accept") == "application/json")
        await api.close()
        await other.close()
    }
}
