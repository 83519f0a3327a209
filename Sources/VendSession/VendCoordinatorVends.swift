import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The coordinator's controller events: a vend request starts (or is refused) a session, the
/// controller's other events go to the session they belong to.
extension VendCoordinator {
    // MARK: Controller events

    func vendRequested(_ request: VendRequest) {
        if let tradeNo = machines.first(where: { $0.value.record.vendID == request.id })?.key {
            deliver(.controllerReclaimed(request), to: tradeNo)
            return
        }
        let previous: SessionRecord?
        do {
            previous = try store.latestSession(vendID: request.id)
        } catch {
            journalUnwritable(error)
            enqueue(.deny(request.id, .error))
            return
        }
        if let previous {
            if previous.state.isFinal {
                _ = try? store.appendEvent(
                    tradeNo: previous.tradeNo, event: .duplicateVend,
                    detail: "VEND \(request.id) after the session ended", at: now())
                enqueue(.deny(request.id, .duplicateID))
                return
            }
            // Open in the journal but not in memory (recovery not run for it): recover, then re-claim.
            let (machine, effects) = VendSessionMachine.recover(previous, policy: policy, now: now())
            machines[previous.tradeNo] = machine
            execute(effects, for: previous.tradeNo)
            guard machines[previous.tradeNo] != nil else {
                // Recovery settled it at once (a dispense of unknown outcome): the vend is over.
                enqueue(.deny(request.id, .duplicateID), for: previous.tradeNo)
                return
            }
            deliver(.controllerReclaimed(request), to: previous.tradeNo)
            return
        }
        // A controller that asks for another vend no longer waits for the result of a DISPENSE (its
        // DISPENSED/FAILED was lost): that outcome is unknown, and it must not block every later vend.
        for (tradeNo, machine) in machines where machine.phase == .dispensing {
            deliver(
                .controllerGone(
                    reason: "VEND \(request.id) while the result of DISPENSE \(machine.record.vendID) was awaited"),
                to: tradeNo)
        }
        guard effectiveService.available, !machines.values.contains(where: \.controllerWaiting) else {
            enqueue(.deny(request.id, .unavailable))
            return
        }
        guard let description = planogram(request.product), request.price.minorUnits > 0 else {
            enqueue(.deny(request.id, .invalid))
            return
        }
        let at = now()
        let record: SessionRecord
        do {
            // The trade_no and the session that uses it in one commit, before the create sends it.
            record = try store.insertNew(
                now: at, event: .requested, detail: "VEND \(request.id) \(request.product) \(request.price)"
            ) { tradeNo in
                SessionRecord(
                    tradeNo: tradeNo, vendID: request.id, product: request.product, itemDescription: description,
                    price: request.price, state: .requested, createdAt: at, updatedAt: at)
            }
        } catch {
            journalUnwritable(error)
            enqueue(.deny(request.id, .error))
            return
        }
        machines[record.tradeNo] = VendSessionMachine(newSession: record, policy: policy)
        deliver(.start, to: record.tradeNo)
    }

    func route(_ id: VendID, _ event: SessionEvent) {
        guard let tradeNo = machines.first(where: { $0.value.record.vendID == id })?.key else { return }
        deliver(event, to: tradeNo)
    }

    func controllerGone(_ reason: String) {
        for (tradeNo, machine) in machines where machine.controllerWaiting {
            deliver(.controllerGone(reason: reason), to: tradeNo)
        }
    }
}
