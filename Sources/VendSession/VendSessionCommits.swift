import KioskCore

/// The commit boundary, explicit: which journal writes are one transaction, and what a failed
/// one means for the controller. Both decided here, from what the machine emitted.
extension VendSessionMachine {
    /// The effects with each run of commits that only `stopPolling` separates joined into one
    /// commit, the `stopPolling`s after it: `paid` with `dispensing` (or with `refund_due`), a
    /// state change with the end right after it. Every effect after a commit waits for it, and a
    /// crash leaves the journal before or after the whole run, never inside it (recovery settles
    /// `invoiced` and `dispensing` as always; docs/money-safety.md). Four commits per paid vend.
    static func joiningCommits(_ effects: [SessionEffect]) -> [SessionEffect] {
        var joined: [SessionEffect] = []
        var index = 0
        while index < effects.count {
            guard case .commit(var steps) = effects[index] else {
                joined.append(effects[index])
                index += 1
                continue
            }
            var stops: [SessionEffect] = []
            var next = index + 1
            scan: while next < effects.count {
                switch effects[next] {
                case .stopPolling: stops.append(effects[next])
                case .commit(let more): steps += more
                default: break scan
                }
                next += 1
            }
            joined.append(.commit(steps))
            joined += stops
            index = next
        }
        return joined
    }

    /// A commit this machine emitted was not written, so nothing after it ran. The controller
    /// still gets its answer: a `DENY` emitted after the commit goes out (a DENY never authorises
    /// anything); otherwise a controller still waiting is denied `error`, unless a `DISPENSE` went
    /// out earlier. One emitted after this commit never did: it follows `paid`/`dispensing`,
    /// which are in this commit. The executor then parks the session (it is settled again from
    /// the journal once that takes writes).
    mutating func commitFailed(_ steps: [CommitStep], unexecuted rest: [SessionEffect]) -> [SessionEffect] {
        let denies = rest.filter { if case .send(.deny) = $0 { true } else { false } }
        if !denies.isEmpty { return denies }
        let dispenseWentOut =
            dispenseCommanded && !steps.contains { $0.record.state == .dispensing || $0.record.state == .paid }
        guard controllerWaiting, !denySent, !dispenseWentOut else { return [] }
        denySent = true
        controllerWaiting = false
        return [.send(.deny(record.vendID, .error))]
    }
}
