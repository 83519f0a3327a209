import KioskCore
import Synchronization

/// Wakes waiters when something changed (a session ended, a link event came, a command went
/// out), so the daemon waits for events with a bound instead of polling. A waiter passes the
/// generation it saw before checking its condition; a change in between wakes it at once, so a
/// signal is never missed.
public final class Pulse: Sendable {
    private struct State {
        public var generation: UInt64 = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The current generation; pass it to `wait(after:timeout:)` after checking a condition.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Something changed: wake every waiter.
    public func signal() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation &+= 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for waiter in woken { waiter.resume() }
    }

    /// Returns once the generation moved past `seen`, after `timeout`, or when cancelled.
    public func wait(after seen: UInt64, timeout: Duration) async {
        _ = await withTimeout(timeout) { await self.waitForSignal(after: seen) }
    }

    /// Waits until `condition` holds (checked after each signal) or `timeout` passed; returns
    /// whether it holds.
    public func wait(until condition: @Sendable () async -> Bool, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let seen = generation
            if await condition() { return true }
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero || Task.isCancelled { return false }
            await wait(after: seen, timeout: left)
        }
    }

    /// Returns once the generation moved past `seen` or when cancelled.
    func waitForSignal(after seen: UInt64) async {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.generation != seen || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

/// A value shared between tasks behind a lock (a class, so closures can capture it).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    public var value: Value { mutex.withLock { $0 } }

    public func set(_ value: Value) { mutex.withLock { $0 = value } }

    public func update<T: Sendable>(_ change: (inout Value) -> T) -> T { mutex.withLock { change(&$0) } }
}

/// Opens once and stays open: tasks that must not start before an event (the daemon's READY)
/// wait on it. A waiter resumes when it opens or when the waiter is cancelled.
public final class Latch: Sendable {
    private let opened = Locked(false)
    private let pulse = Pulse()

    public init() {}

    public var isOpen: Bool { opened.value }

    /// Opens the latch and wakes every waiter; later calls do nothing.
    public func open() {
        opened.set(true)
        pulse.signal()
    }

    /// Returns whether the latch is open: true once it opened, false if cancelled first.
    @discardableResult
    public func wait() async -> Bool {
        while !Task.isCancelled {
            let seen = pulse.generation
            if isOpen { return true }
            await pulse.waitForSignal(after: seen)
        }
        return isOpen
    }
}
