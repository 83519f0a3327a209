/// The tests' one deadline helper: looks at `condition` until it holds or `timeout` has passed
/// (then looks once more), `every` apart; returns whether it held. A throwing look counts as
/// "not yet". Only for what no event announces (another process, a file, a fake's state); where
/// an event exists, wait on the event (`Pulse.wait(until:timeout:)`, a stream) instead.
public func eventually(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(1),
    _ condition: () async throws -> Bool
) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: timeout)
    while clock.now < end {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: interval)
    }
    return (try? await condition()) == true
}
