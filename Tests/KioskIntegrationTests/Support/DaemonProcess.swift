import Foundation
import KioskTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
enum ProcessEnding: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signalled(let signal): return "killed by signal \(signal)"
        }
    }
}

/// Where the built `drippay-kiosk` executable is. `swift test` builds every product before the
/// tests, into the directory that also holds the test bundle.
enum KioskBinary {
    static func path(filePath: String = #filePath) throws(RigError) -> String {
        let root = RepoPaths.root(filePath: filePath).path
        if let found = BuiltExecutable.kiosk(repositoryRoot: root) { return found }
        let candidates = BuiltExecutable.candidates("drippay-kiosk", repositoryRoot: root)
        throw .setup(
            "drippay-kiosk executable not found (tried \(candidates)); run `swift build` or set DRIPPAY_KIOSK_BINARY")
    }
}

/// Paths in the source checkout.
enum RepoPaths {
    /// The package root: three levels above this file (Tests/KioskIntegrationTests/Support/).
    static func root(filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static var simulatorProfile: String {
        root().appendingPathComponent("hardware-profiles/simulator.toml").path
    }
}

/// One spawned daemon process, with its stdout/stderr in files, that a test can signal and wait for.
///
/// The exit is learned from Foundation's termination handler; every wait is bounded.
actor DaemonProcess {
    nonisolated let pid: Int32
    nonisolated let stdoutPath: String
    nonisolated let stderrPath: String
    private let process: Process
    private var ending: ProcessEnding?
    private var waiters: [Int: CheckedContinuation<ProcessEnding?, Never>] = [:]
    private var nextWaiter = 0

    /// Starts `executable` with `arguments` in `directory`; output goes to `<logPrefix>.stdout/.stderr`.
    init(
        executable: String, arguments: [String], directory: String, logPrefix: String,
        environment: [String: String]
    ) throws(RigError) {
        stdoutPath = logPrefix + ".stdout"
        stderrPath = logPrefix + ".stderr"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment
        guard FileManager.default.createFile(atPath: stdoutPath, contents: nil),
            FileManager.default.createFile(atPath: stderrPath, contents: nil),
            let out = FileHandle(forWritingAtPath: stdoutPath), let err = FileHandle(forWritingAtPath: stderrPath)
        else { throw .setup("cannot create the output files \(logPrefix).stdout/.stderr") }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let (endings, sink) = AsyncStream<ProcessEnding>.makeStream(bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { finished in
            switch finished.terminationReason {
            case .uncaughtSignal: sink.yield(.signalled(finished.terminationStatus))
            default: sink.yield(.exited(finished.terminationStatus))
            }
            sink.finish()
        }
        do {
            try process.run()
        } catch {
            throw .setup("cannot start \(executable): \(error)")
        }
        try? out.close()
        try? err.close()
        self.process = process
        pid = process.processIdentifier
        Task { [weak self] in
            for await ending in endings { await self?.finish(ending) }
        }
    }

    var hasExited: Bool { ending != nil }

    /// Sends `signal` (no-op once the process has ended).
    func send(_ signal: Int32) {
        guard ending == nil else { return }
        kill(pid, signal)
    }

    /// Waits for the process to end; nil when it is still running after `timeout`.
    func waitForExit(timeout: Duration) async -> ProcessEnding? {
        if let ending { return ending }
        let id = nextWaiter
        nextWaiter += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(id)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { waiters[id] = $0 }
    }

    /// SIGKILL and wait until the kernel has reaped it (so its descriptors are closed).
    @discardableResult
    func killAndWait() async -> ProcessEnding? {
        send(SIGKILL)
        return await waitForExit(timeout: .seconds(10))
    }

    /// The last `lines` lines of stderr, for failure messages.
    nonisolated func stderrTail(lines: Int = 40) -> String {
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "(no stderr at \(stderrPath))"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    private func expire(_ id: Int) {
        waiters.removeValue(forKey: id)?.resume(returning: nil)
    }

    private func finish(_ ending: ProcessEnding) {
        self.ending = ending
        for (_, waiter) in waiters { waiter.resume(returning: ending) }
        waiters.removeAll()
    }
}

/// Runs a one-shot command of the binary (`journal refunds ...`) to its end, bounded, off the
/// cooperative thread pool.
func runKioskCommand(
    _ arguments: [String], timeout: Duration = .seconds(20)
) async throws -> ChildProcessResult {
    try await ChildProcess.run(
        try KioskBinary.path(), arguments, environment: KioskRig.childEnvironment(), timeout: timeout)
}
