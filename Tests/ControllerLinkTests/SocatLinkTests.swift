import ControllerLink
import Foundation
import KioskCore
import Testing

/// socat's pty pair: two symlinks that open like serial devices, as in a bench setup where
/// a technician bridges a controller with `socat`.
final class SocatPair: Sendable {
    let process: Process
    let left: String
    let right: String
    private let directory: String

    /// Starts socat and returns once its log says the transfer loop runs (the log pipe is
    /// read event-driven, like a serial line); fails after `timeout`.
    init(timeout: Duration = .seconds(5)) async throws {
        directory = NSTemporaryDirectory() + "/drippay-socat-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        left = directory + "/left"
        right = directory + "/right"
        let process = Process()
        self.process = process
        process.executableURL = URL(fileURLWithPath: "/usr/bin/socat")
        process.arguments = ["-d", "-d", "pty,raw,echo=0,link=\(left)", "pty,raw,echo=0,link=\(right)"]
        let log = Pipe()
        process.standardError = log
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let channel = try SerialChannel.adopting(
            descriptor: dup(log.fileHandleForReading.fileDescriptor), name: "socat log")
        defer { channel.close() }
        let started =
            await withTimeout(timeout) {
                var framer = LineFramer(maxLineBytes: 4096)
                for await event in channel.reads {
                    guard case .bytes(let bytes) = event else { break }
                    for case .line(let line) in framer.feed(bytes) where line.contains("starting data transfer loop") {
                        return true
                    }
                }
                return false
            } ?? false
        guard started else {
            stop()
            throw SocatFailed()
        }
    }

    struct SocatFailed: Error, CustomStringConvertible {
        var description: String { "socat did not report its data transfer loop in time" }
    }

    func stop() {
        // Signal by pid: the test process may end before Foundation's own bookkeeping runs.
        let pid = process.processIdentifier
        if pid > 0 { kill(pid, SIGKILL) }  // SIGKILL: the child may inherit a blocked SIGTERM
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite("Serial channel through socat links")
struct SocatLinkTests {
    @Test func socatLinksOpenAsSerialDevicesAndCarryBytes() async throws {
        let pair = try await SocatPair()
        defer { pair.stop() }
        let a = try SerialChannel.open(SerialOptions(device: pair.left))
        let b = try SerialChannel.open(SerialOptions(device: pair.right))
        defer {
            a.close()
            b.close()
        }
        try a.write(Array("VEND 1 A5 1.50\r\n".utf8))
        let got =
            await withTimeout(.seconds(5)) { () -> [LineFramer.Output] in
                var framer = LineFramer()
                for await event in b.reads {
                    guard case .bytes(let bytes) = event else { break }
                    let out = framer.feed(bytes)
                    if !out.isEmpty { return out }
                }
                return []
            } ?? []
        #expect(got == [.line("VEND 1 A5 1.50")])
    }
}
