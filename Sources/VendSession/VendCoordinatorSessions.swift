import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A session's life on the coordinator: ending it, its timers and its status polling.
extension VendCoordinator {
    func forget(_ tradeNo: TradeNo, ending: SessionOutcome.Ending) {
        guard let machine = machines.removeValue(forKey: tradeNo) else { return }
        polling[tradeNo] = nil
        sessionJobSinks.removeValue(forKey: tradeNo)?.finish()
        for timer in SessionTimer.allCases { timerGenerations[TimerKey(tradeNo: tradeNo, timer: timer)] = nil }
        if screenOwner == tradeNo {
            screenOwner = nil
            if ending != .finished(.dispensed) {
                // Leave the result up for a moment, then the idle screen (unless a new vend took it);
                // a parked session's QR must not stay up either.
                // A refund notice stays longer: the customer copies its reference and contact.
                let pause: Duration
                switch ending {
                case .finished(.refundDue), .finished(.dispenseUnknown), .finished(.unresolved):
                    pause = policy.refundNoticeTime
                default: pause = policy.resultScreenTime
                }
                jobSink.yield {
                    do { try await self.sleep(for: pause) } catch { return }
                    await self.showIdleIfFree()
                }
            }
        }
        outcomeSink.yield(SessionOutcome(record: machine.record, ending: ending))
    }

    func showIdleIfFree() {
        guard screenOwner == nil else { return }
        screenSink.yield(.show(effectiveService.screen))
    }

    func timerFired(_ key: TimerKey, generation current: UInt64) {
        guard timerGenerations[key] == current else { return }  // replaced or session ended
        timerGenerations[key] = nil
        deliver(.timerFired(key.timer), to: key.tradeNo)
    }

    /// Polls one invoice back to back (the API client paces `status` by its rate limiter), with
    /// the policy's floor between calls and a back-off while the API fails. Ends as soon as the
    /// session stops polling, so nothing polls while idle.
    func pollLoop(_ tradeNo: TradeNo, _ reference: InvoiceReference, generation current: UInt64) async {
        var failures = 0
        while !Task.isCancelled, polling[tradeNo] == current {
            var delay = policy.pollFloor
            do {
                let status = try await invoices.status(of: reference)
                failures = 0
                // Delivered even if polling stopped meanwhile: a late `paid` must not be lost.
                deliver(.statusPolled(status), to: tradeNo)
            } catch is InvoiceNotFound {
                deliver(.invoiceGone, to: tradeNo)
            } catch {
                failures += 1
                deliver(.pollFailed(String(describing: error)), to: tradeNo)
                // The floor doubled once per failure in a row, at most pollBackoffMax.
                delay = Backoff(initial: min(policy.pollFloor, policy.pollBackoffMax), maximum: policy.pollBackoffMax)
                    .delay(afterFailures: failures + 1)
            }
            guard polling[tradeNo] == current else { return }
            do { try await sleep(for: delay) } catch { return }
        }
    }
}
