import Foundation
import KioskCore

/// What a finished child process left behind.
public struct ChildProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stdoutBytes: [UInt8]
    public let stderr: String
    /// True when the process outlived its timeout and was killed.
    public let timedOut: Bool
}

/// Runs a program to completion for a test without blocking Swift's cooperative thread pool:
/// the waiting happens on a thread of its own. On a 2-core machine the pool has two threads, and
/// tests that block them (zbarimg, systemd-analyze, the built binary) would stall every other
/// async test running in parallel.
public enum ChildProcess {
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> ChildProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let seconds = timeout.inSeconds
        let pid = process.processIdentifier
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                // Drain stderr beside stdout, so a chatty child never blocks on a full pipe.
                let stderrData = Box<Data>(Data())
                let drained = DispatchSemaphore(value: 0)
                DispatchQueue.global().async {
                    stderrData.set(err.fileHandleForReading.readDataToEndOfFile())
                    drained.signal()
                }
                let killed = Box<Bool>(false)
                let killer = DispatchWorkItem {
                    killed.set(true)
                    kill(pid, SIGKILL)
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: killer)
                let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
                drained.wait()
                process.waitUntilExit()
                killer.cancel()
                continuation.resume(
                    returning: ChildProcessResult(
                        status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                        stdoutBytes: [UInt8](stdoutData), stderr: String(decoding: stderrData.get(), as: UTF8.self),
                        timedOut: killed.get()))
            }
            thread.start()
        }
    }
}

/// A value shared between the waiting thread and a dispatch callback.
private final class Box<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func get() -> Value { lock.withLock { value } }
}
