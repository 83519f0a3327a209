import ControllerLink
import KioskCore

/// Records a link's events and waits for them, every wait bounded by a timeout.
actor EventRecorder {
    private(set) var events: [LinkEvent] = []
    private var cursor = 0
    private var waiter:
        (matches: @Sendable (LinkEvent) -> Bool, continuation: CheckedContinuation<LinkEvent, any Error>, id: Int)?
    private var nextID = 0
    private var pump: Task<Void, Never>?

    struct TimedOut: Error, CustomStringConvertible {
        let what: String
        let seen: [LinkEvent]
        var description: String { "timed out waiting for \(what); events so far: \(seen)" }
    }

    func start(_ stream: AsyncStream<LinkEvent>) {
        pump = Task { [weak self] in
            for await event in stream { await self?.record(event) }
        }
    }

    private func record(_ event: LinkEvent) {
        events.append(event)
        guard let waiter, cursor < events.count else { return }
        if let index = events[cursor...].firstIndex(where: waiter.matches) {
            cursor = index + 1
            self.waiter = nil
            waiter.continuation.resume(returning: events[index])
        }
    }

    /// The next event after the last one returned that matches (others are skipped).
    func next(
        _ what: String, timeout: Duration = .seconds(5), where matches: @escaping @Sendable (LinkEvent) -> Bool
    ) async throws -> LinkEvent {
        if let index = events[cursor...].firstIndex(where: matches) {
            cursor = index + 1
            return events[index]
        }
        precondition(waiter == nil, "one wait at a time")
        nextID += 1
        let id = nextID
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(id, what: what)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiter = (matches, continuation, id)
        }
    }

    private func expire(_ id: Int, what: String) {
        guard let current = waiter, current.id == id else { return }
        waiter = nil
        current.continuation.resume(throwing: TimedOut(what: what, seen: events))
    }

    func controller(timeout: Duration = .seconds(5)) async throws -> ControllerEvent {
        let event = try await next("a controller event", timeout: timeout) {
            if case .controller = $0 { true } else { false }
        }
        guard case .controller(let inner) = event else { preconditionFailure("matched a controller event") }
        return inner
    }

    /// The next controller event that matches (other events are skipped).
    func controller(
        _ what: String, timeout: Duration = .seconds(5), where matches: @escaping @Sendable (ControllerEvent) -> Bool
    ) async throws -> ControllerEvent {
        let event = try await next(what, timeout: timeout) {
            if case .controller(let inner) = $0 { matches(inner) } else { false }
        }
        guard case .controller(let inner) = event else { preconditionFailure("matched a controller event") }
        return inner
    }

    func up(timeout: Duration = .seconds(5)) async throws {
        _ = try await next(".up", timeout: timeout) { if case .up = $0 { true } else { false } }
    }

    @discardableResult
    func down(timeout: Duration = .seconds(5)) async throws -> String {
        let event = try await next(".down", timeout: timeout) { if case .down = $0 { true } else { false } }
        guard case .down(let reason) = event else { preconditionFailure("matched a down event") }
        return reason
    }

    /// How many events matched so far (for "logged once" style checks).
    func count(where matches: (LinkEvent) -> Bool) -> Int { events.filter(matches).count }
}
