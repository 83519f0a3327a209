import DripPaySandbox
import Foundation
import KioskCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `stop()` with connections the listener has accepted but not yet handed out. A cancelled accept
/// loop dropped those unserved, and NIO traps on that ("Deinited NIOAsyncWriter without calling
/// finish()"): seen in full runs when a sandbox went down with a connection still queued.
@Suite("Sandbox stop with queued and busy connections")
struct SandboxStopTests {
    /// A blocking TCP connection to 127.0.0.1:port (nil when refused).
    private func connect(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            close(fd)
            return nil
        }
        return fd
    }

    /// Reads until end of file; true when the peer closed (0 from read, or a reset), false when
    /// nothing came for 10 s.
    private func seesEndOfFile(_ fd: Int32) -> Bool {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    @Test func stopClosesEveryAcceptedConnectionAndTheListener() async throws {
        let sandbox = APISandbox(tokens: ["1|t": Set(Ability.allCases)])
        let port = try await sandbox.start()
        for round in 0..<3 {
            // Connections made back to back and stopped at once: the kernel has completed them all,
            // and some are still queued in the accept loop when stop() runs.
            let sockets = (0..<64).compactMap { _ in connect(port) }
            #expect(sockets.count == 64)
            await sandbox.stop()
            #expect(await sandbox.isUp == false)
            let closed = sockets.filter(seesEndOfFile).count
            sockets.forEach { close($0) }
            #expect(closed == sockets.count, "round \(round): \(sockets.count - closed) connections stayed open")
            #expect(connect(port) == nil, "round \(round): the listener still accepts after stop()")
            try await sandbox.comeUp()
        }
        await sandbox.stop()
    }

    @Test func stopEndsARequestHeldByALatencyFault() async throws {
        let sandbox = APISandbox(tokens: ["1|t": Set(Ability.allCases)])
        let port = try await sandbox.start()
        await sandbox.setLatency(.seconds(600))
        let fd = try #require(connect(port))
        send(fd, "GET /api/v1/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer 1|t\r\n\r\n")
        // The request is read and held; stop() must not wait out the 600 s.
        while await sandbox.requests().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        await sandbox.stop()
        #expect(seesEndOfFile(fd), "the held connection stayed open after stop()")
        close(fd)
    }
}
