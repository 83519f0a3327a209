import Foundation
import Synchronization

/// A peer for the HTTP transport's tests, run from `Tests/Scripts/loopback_peers.py` with
/// python3: a TLS server in front of the sandbox, an HTTP CONNECT proxy, or a server that stalls
/// mid-body. It listens on a loopback port of the kernel's choice; every line it prints after
/// the port is an event the test can wait for (`line(matching:)`) or read (`lines`).
public final class LoopbackPeer: Sendable {
    public let port: Int
    private let process: ProcessBox
    private let state = Mutex<State>(State())

    private struct State {
        var lines: [String] = []
        var waiters:
            [(id: Int, matches: @Sendable (String) -> Bool, continuation: CheckedContinuation<String?, Never>)] = []
        var nextID = 0
        var ended = false
    }

    private final class ProcessBox: @unchecked Sendable {
        // Set up before the reader thread starts; afterwards only terminate/wait are called.
        let process: Process
        let input: Pipe
        init(_ process: Process, input: Pipe) {
            self.process = process
            self.input = input
        }
    }

    /// The script beside this package's tests.
    public static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/loopback_peers.py").path
    }

    /// Starts `python3 loopback_peers.py ARGUMENTS` and waits for the port it listens on.
    public static func start(_ arguments: [String]) async throws -> LoopbackPeer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", script] + arguments
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        let reader = output.fileHandleForReading
        let first = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            Thread {
                continuation.resume(returning: Self.readLine(reader))
            }.start()
        }
        guard let first, first.hasPrefix("port "), let port = Int(first.dropFirst(5)) else {
            process.terminate()
            throw PeerError(
                description: "\(script) \(arguments.joined(separator: " ")) did not start: \(first ?? "no output")")
        }
        let peer = LoopbackPeer(port: port, process: ProcessBox(process, input: input))
        Thread { [peer] in
            while let line = Self.readLine(reader) { peer.received(line) }
            peer.ended()
        }.start()
        return peer
    }

    private init(port: Int, process: ProcessBox) {
        self.port = port
        self.process = process
    }

    /// Every event line so far.
    public var lines: [String] { state.withLock { $0.lines } }

    /// The first event line (already printed or still to come) that `matches`, or nil when
    /// `timeout` passes or the peer ends first.
    public func line(
        matching matches: @escaping @Sendable (String) -> Bool, timeout: Duration = .seconds(10)
    ) async
        -> String?
    {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskGroup(of: String?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.state.withLock { state -> String?? in
                        if let line = state.lines.first(where: matches) { return .some(line) }
                        if state.ended { return .some(nil) }
                        state.waiters.append((id, matches, continuation))
                        return nil
                    }
                    if let now { continuation.resume(returning: now) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.resolve(id, with: nil)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            self.resolve(id, with: nil)
            return first
        }
    }

    /// Ends the peer (closes its stdin, then kills it) and waits for it.
    public func stop() {
        try? process.input.fileHandleForWriting.close()
        process.process.terminate()
        process.process.waitUntilExit()
    }

    private func resolve(_ id: Int, with line: String?) {
        let waiter = state.withLock { state in
            state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0) }
        }
        waiter?.continuation.resume(returning: line)
    }

    private func received(_ line: String) {
        let ready = state.withLock { state in
            state.lines.append(line)
            let ready = state.waiters.filter { $0.matches(line) }
            state.waiters.removeAll { $0.matches(line) }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: line) }
    }

    private func ended() {
        let waiting = state.withLock { state in
            state.ended = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiting { waiter.continuation.resume(returning: nil) }
    }

    /// One line from the pipe, byte by byte (the events are few and short), nil at its end.
    private static func readLine(_ handle: FileHandle) -> String? {
        var bytes: [UInt8] = []
        while true {
            let data = handle.readData(ofLength: 1)
            guard let byte = data.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }

    public struct PeerError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }
}
