import ControllerSimulator
import Foundation

/// Every line the daemon wrote to the simulated controller, across every daemon lifetime, with
/// the time it arrived. Waits are by position ("the first line matching P at or after index i"),
/// so a repeated line such as `READY` or `PONG` from an earlier lifetime never satisfies a later
/// wait by accident.
actor LineLog {
    struct Entry: Sendable {
        let line: String
        let at: ContinuousClock.Instant
    }

    private(set) var entries: [Entry] = []
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiter = 0
    private var pump: Task<Void, Never>?

    private struct Waiter {
        let from: Int
        let matches: @Sendable (String) -> Bool
        let continuation: CheckedContinuation<(index: Int, line: String), any Error>
    }

    /// Starts copying every line the simulator receives into the log, in order.
    func attach(to simulator: ControllerSimulator) {
        pump = Task { [weak self] in
            while !Task.isCancelled {
                // The simulator hands out each line once, in arrival order, to the only waiter.
                guard
                    let line = try? await simulator.waitForLine(
                        matching: "any line", timeout: .seconds(3600), { _ in true })
                else { return }
                await self?.append(line)
            }
        }
    }

    func detach() {
        pump?.cancel()
        pump = nil
    }

    var count: Int { entries.count }
    var lines: [String] { entries.map(\.line) }

    /// The first line at index >= `from` that matches; throws `RigError.timedOut` after `timeout`.
    func first(
        from: Int, matching description: String, timeout: Duration,
        _ matches: @escaping @Sendable (String) -> Bool
    ) async throws -> (index: Int, line: String) {
        if from < entries.count, let index = (from..<entries.count).first(where: { matches(entries[$0].line) }) {
            return (index, entries[index].line)
        }
        let id = nextWaiter
        nextWaiter += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(id, description: description, timeout: timeout)
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    waiters[id] = Waiter(from: from, matches: matches, continuation: continuation)
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) {
        waiters.removeValue(forKey: id)?.continuation.resume(throwing: CancellationError())
    }

    /// The line at `index` (waiting for it to arrive), for a reader that takes every line in order.
    func line(at index: Int, timeout: Duration) async throws -> String {
        try await first(from: index, matching: "line #\(index)", timeout: timeout) { _ in true }.line
    }

    /// When the line at `index` arrived.
    func arrival(of index: Int) -> ContinuousClock.Instant { entries[index].at }

    /// Fails every waiter (teardown).
    func close() {
        detach()
        for (_, waiter) in waiters { waiter.continuation.resume(throwing: RigError.setup("the line log was closed")) }
        waiters.removeAll()
    }

    private func append(_ line: String) {
        entries.append(Entry(line: line, at: .now))
        let index = entries.count - 1
        for (id, waiter) in waiters where waiter.from <= index && waiter.matches(line) {
            waiters[id] = nil
            waiter.continuation.resume(returning: (index, line))
        }
    }

    private func expire(_ id: Int, description: String, timeout: Duration) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        let recent = entries.suffix(12).map(\.line)
        waiter.continuation.resume(
            throwing: RigError.timedOut("a line matching \(description) (last lines: \(recent))", after: timeout))
    }
}
