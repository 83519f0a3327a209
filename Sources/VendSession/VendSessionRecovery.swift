import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension VendSessionMachine {
    // MARK: Recovery (docs/money-safety.md, "Crash recovery")

    /// Settles a session found open in the journal on start. Nobody waits for it until the
    /// controller re-claims it (`controllerReclaimed`) within `policy.resumeGrace`.
    ///
    /// - `requested`: look the trade_no up; what is found is settled like a fresh answer
    ///   (pending: kept for the grace then cancelled; paid: dispensed if re-claimed, else refund due;
    ///   not found: failed).
    /// - `invoiced`: keep polling during the grace; a re-claim resumes (same invoice, same QR,
    ///   `ACCEPT` again); otherwise cancel, then re-check (paid becomes refund due).
    /// - `paid`: a re-claim within the grace dispenses (journaled first); otherwise refund due.
    /// - `dispensing`: the outcome is unknown: `dispense_unknown`, never dispensed again.
    public static func recover(
        _ record: SessionRecord, policy: SessionPolicy, now: Date
    )
        -> (machine: VendSessionMachine, effects: [SessionEffect])
    {
        var machine = VendSessionMachine(recovered: record, policy: policy, phase: .lookingUp)
        let grace = now.adding(policy.resumeGrace)
        var effects: [SessionEffect] = [
            .log(event: .recovering, detail: "found \(record.state.rawValue) on start")
        ]
        switch record.state {
        case .requested:
            machine.claimDeadline = grace
            effects += machine.schedule(.claimGrace, at: grace)
            effects.append(.lookupInvoice(record.tradeNo))
        case .invoiced:
            guard let reference = record.reference else {
                // An invoiced row without a reference cannot come from this machine; treat it as
                // an unknown create outcome.
                machine.phase = .lookingUp
                machine.claimDeadline = grace
                effects += machine.schedule(.claimGrace, at: grace)
                effects.append(.lookupInvoice(record.tradeNo))
                return (machine, joiningCommits(effects))
            }
            machine.phase = .awaitingPayment
            let deadline = record.paymentDeadline ?? now
            if deadline <= now {
                effects += machine.beginCancel(.timeout, now: now)
            } else {
                machine.claimDeadline = min(grace, deadline)
                effects.append(.startPolling(reference))
                effects += machine.schedule(.paymentDeadline, at: deadline)
                effects += machine.schedule(.claimGrace, at: min(grace, deadline))
            }
        case .paid:
            machine.phase = .awaitingClaim
            machine.claimDeadline = grace
            effects += machine.schedule(.claimGrace, at: grace)
        case .dispensing:
            machine.dispenseCommanded = true
            effects += machine.end(
                .dispenseUnknown, now: now, event: .dispenseUnknown,
                note: "dispense was commanded before a restart; outcome unknown, never dispensed again")
        case .dispensed, .cancelled, .refundDue, .dispenseUnknown, .unresolved, .failed:
            machine.phase = .ended
            effects = [.finished(record.state)]
        }
        return (machine, joiningCommits(effects))
    }
}
