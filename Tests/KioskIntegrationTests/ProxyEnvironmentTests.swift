import DripPaySandbox
import Foundation
import KioskCore
import KioskTestSupport
import Testing

/// The built binary reaches the API through the environment's proxy as libcurl reads it
/// (`http_proxy`, `https_proxy`, `no_proxy`) when `[api] proxy` is not set: sites whose machines
/// may only go out through an HTTP proxy need nothing in the config.
@Suite("The environment's proxy", .serialized)
struct ProxyEnvironmentTests {
    @Test func pingGoesThroughTheEnvironmentsProxyUnlessNoProxyNamesTheHost() async throws {
        let token = APISandbox.generateToken()
        let sandbox = APISandbox(tokens: [token: Set(Ability.allCases)])
        let port = try await sandbox.start()
        let proxy = try await LoopbackPeer.start(["connect-proxy"])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "drippay-proxy-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let tokenFile = directory + "/token"
        try token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let arguments = ["ping", "--base-url", "http://127.0.0.1:\(port)/api/v1", "--token-file", tokenFile]
        var environment = KioskRig.childEnvironment()
        for key in ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"] {
            environment[key] = nil
        }
        environment["http_proxy"] = "http://127.0.0.1:\(proxy.port)"

        let through = try await ChildProcess.run(try KioskBinary.path(), arguments, environment: environment)
        #expect(through.status == 0, "\(through.stdout)\(through.stderr)")
        let head = await proxy.line(matching: { $0.hasPrefix("{") })
        #expect(head?.contains("CONNECT 127.0.0.1:\(port) HTTP/1.1") == true, "\(proxy.lines)")
        #expect(await sandbox.requests().count == 1)

        environment["no_proxy"] = "127.0.0.1"
        let direct = try await ChildProcess.run(try KioskBinary.path(), arguments, environment: environment)
        #expect(direct.status == 0, "\(direct.stdout)\(direct.stderr)")
        #expect(proxy.lines.filter { $0.hasPrefix("{") }.count == 1, "no_proxy: the proxy saw nothing more")
        #expect(await sandbox.requests().count == 2)

        proxy.stop()
        await sandbox.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
