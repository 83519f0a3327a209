/// The one scoped entry point of the test rigs: runs `body` with `resource` and then awaits
/// `tearDown(resource)`, also when the body throws, so nothing a test started outlives it (a
/// `defer { Task { await … } }` would let the next test start while this one still tears down).
///
/// The rigs build on it: `Fixture.with` (sandbox and client), `withDaemonHarness` (sandbox,
/// simulated controller, config and journal), `withSandbox`, `withHarness` (coordinator).
@discardableResult
public func withTearDown<Resource, Result>(
    _ resource: Resource, tearDown: (Resource) async -> Void, _ body: (Resource) async throws -> Result
) async throws -> Result {
    let result: Result
    do {
        result = try await body(resource)
    } catch {
        await tearDown(resource)
        throw error
    }
    await tearDown(resource)
    return result
}
