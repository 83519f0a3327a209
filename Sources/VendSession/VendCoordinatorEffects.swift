import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Running a session's machine: its effects in order (journal first, then what the journal
/// authorises), and what happens when a journal write fails (park, resettle).
extension VendCoordinator {
    // MARK: Running machines

    func deliver(_ event: SessionEvent, to tradeNo: TradeNo) {
        guard var machine = machines[tradeNo] else { return }
        let effects = machine.handle(event, now: now())
        machines[tradeNo] = machine
        execute(effects, for: tradeNo)
    }

    /// Carries out effects in order; stops at the first commit that fails and reports it to the
    /// session's machine. A commit is written as the machine made it: one transaction.
    func execute(_ effects: [SessionEffect], for tradeNo: TradeNo) {
        for (index, effect) in effects.enumerated() {
            switch effect {
            case .commit(let steps):
                do {
                    try store.update(steps: steps.map { (record: $0.record, event: $0.event, detail: $0.detail) })
                } catch {
                    commitFailed(tradeNo, steps: steps, error: error, rest: Array(effects[(index + 1)...]))
                    return
                }
            case .log(let event, let detail):
                // An audit line; a failure to add it changes nothing about the session, but it
                // means the journal cannot be written: out of service until it can.
                do {
                    try store.appendEvent(
                        tradeNo: tradeNo, event: event, detail: detail, at: now(), durable: Self.isDurableNote(event))
                } catch {
                    journalUnwritable(error)
                }
            case .createInvoice:
                guard let record = machines[tradeNo]?.record else { return }
                let offerBy = policy.offerDeadline(vendArrivedAt: record.createdAt)
                submit(for: tradeNo) { [invoices, renderQR] in
                    let event: SessionEvent
                    do throws(InvoiceCreateFailure) {
                        let info = try await invoices.createInvoice(
                            tradeNo: record.tradeNo, description: record.itemDescription, price: record.price,
                            offerBy: offerBy, since: record.createdAt)
                        event = .invoiceCreated(info, qrPayload: renderQR(info, record.tradeNo))
                    } catch {
                        event = .invoiceCreateFailed(error)
                    }
                    await self.deliver(event, to: tradeNo)
                }
            case .lookupInvoice(let lookup):
                let since = machines[tradeNo]?.record.createdAt ?? now()
                submit(for: tradeNo) { [invoices, renderQR] in
                    let event: SessionEvent
                    do {
                        if let info = try await invoices.findInvoice(tradeNo: lookup, since: since) {
                            event = .invoiceFound(info, qrPayload: renderQR(info, lookup))
                        } else {
                            event = .invoiceNotFound
                        }
                    } catch {
                        event = .lookupFailed(String(describing: error))
                    }
                    await self.deliver(event, to: tradeNo)
                }
            case .startPolling(let reference):
                generation += 1
                let current = generation
                polling[tradeNo] = current
                submit(for: tradeNo) { await self.pollLoop(tradeNo, reference, generation: current) }
            case .stopPolling:
                polling[tradeNo] = nil
            case .cancelInvoice(let reference):
                submit(for: tradeNo) { [invoices] in
                    let outcome = await invoices.cancel(reference)
                    await self.deliver(.cancelAnswered(outcome), to: tradeNo)
                }
            case .checkStatus(let reference):
                submit(for: tradeNo) { [invoices] in
                    let event: SessionEvent
                    do {
                        event = .statusRechecked(try await invoices.recheck(of: reference))
                    } catch is InvoiceNotFound {
                        event = .invoiceGone
                    } catch {
                        event = .recheckFailed(String(describing: error))
                    }
                    await self.deliver(event, to: tradeNo)
                }
            case .watchStatus(let reference):
                submit(for: tradeNo) { [invoices] in
                    let event: SessionEvent
                    do {
                        event = .statusRechecked(try await invoices.status(of: reference))
                    } catch is InvoiceNotFound {
                        event = .invoiceGone
                    } catch {
                        event = .recheckFailed(String(describing: error))
                    }
                    await self.deliver(event, to: tradeNo)
                }
            case .startTimer(let timer, let at):
                generation += 1
                let current = generation
                let key = TimerKey(tradeNo: tradeNo, timer: timer)
                timerGenerations[key] = current
                let delay = Duration.milliseconds(Int64((max(0, at.timeIntervalSince(now())) * 1000).rounded(.up)))
                submit(for: tradeNo) {
                    do { try await self.sleep(for: delay) } catch { return }
                    await self.timerFired(key, generation: current)
                }
            case .show(let intent):
                if case .pay = intent { screenOwner = tradeNo }
                if screenOwner == tradeNo { screenSink.yield(.show(intent)) }
            case .send(let command):
                enqueue(command, for: tradeNo)
            case .finished(let state):
                forget(tradeNo, ending: .finished(state))
            }
        }
    }

    /// Whether a `.log` note is committed with its own fsync. `dispense_sent` is not: it is
    /// written after `DISPENSE` went out, on every vend, and recovery never reads it (a session
    /// journaled `dispensing` becomes `dispense_unknown` whether the note is there or not; recovery
    /// reads sessions, never events). A power cut may lose it; a process crash does not, and the
    /// vend's next commit (`dispensed`, ...) makes it durable. Every other note keeps its fsync.
    static func isDurableNote(_ event: JournalEventKind) -> Bool { event != .dispenseSent }

    /// A commit failed: never go on (no DISPENSE, no ACCEPT without its record). The machine
    /// says what the controller still hears (`VendSessionMachine.commitFailed`: a DENY it emitted
    /// after the commit, or `DENY error` to a controller still waiting with no DISPENSE out). The
    /// session is dropped from memory as the journal last holds it, reported (an event and the
    /// outcome name the write that was lost), and settled again from the journal once it can be
    /// written (resettle), so what could not be written is retried.
    func commitFailed(_ tradeNo: TradeNo, steps: [CommitStep], error: any Error, rest: [SessionEffect]) {
        guard var machine = machines[tradeNo] else { return }
        let answers = machine.handle(.commitFailed(steps, unexecuted: rest), now: now())
        machines[tradeNo] = machine
        for case .send(let command) in answers { enqueue(command, for: tradeNo) }
        // Then out of service (after the DENY: the controller first hears how its vend ended).
        journalUnwritable(error)
        let events = steps.map(\.event.rawValue).joined(separator: "+")
        let unwritten = steps.last?.record.state.rawValue ?? "?"
        let reason = "journal write failed (\(events) -> \(unwritten)): \(error)"
        // Best effort: the event table may still take a row when the session row cannot change.
        _ = try? store.appendEvent(tradeNo: tradeNo, event: .journalWriteFailed, detail: reason, at: now())
        forget(tradeNo, ending: .parked(reason: reason))
        parked.insert(tradeNo)
        scheduleResettle(tradeNo)
    }

    /// A parked session is settled again from the journal once it can be written: while the daemon
    /// runs, a paid invoice must not wait for a restart to become refund due (rule 2), nor an
    /// abandoned one to be cancelled at the API (rule 4).
    func scheduleResettle(_ tradeNo: TradeNo) {
        let pause = policy.retryMax
        jobSink.yield {
            do { try await self.sleep(for: pause) } catch { return }
            await self.resettle(tradeNo)
        }
    }

    func resettle(_ tradeNo: TradeNo) {
        guard machines[tradeNo] == nil else {  // a re-claim recovered it meanwhile
            parked.remove(tradeNo)
            return
        }
        let record: SessionRecord?
        do {
            record = try store.openSessions().first { $0.tradeNo == tradeNo }
        } catch {
            scheduleResettle(tradeNo)
            return
        }
        parked.remove(tradeNo)
        guard let record else { return }
        let (machine, effects) = VendSessionMachine.recover(record, policy: policy, now: now())
        machines[tradeNo] = machine
        execute(effects, for: tradeNo)
    }
}
