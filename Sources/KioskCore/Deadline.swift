/// Runs `operation`, giving up after `timeout` (the operation's task is cancelled then); nil when
/// it did not finish in time. The one "race a task against a sleep".
public func withTimeout<T: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async -> T
) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await operation() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// Like `withTimeout(_:_:)` for a throwing operation: its value, nil after `timeout`; its error
/// is rethrown.
public func withTimeout<T: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}
