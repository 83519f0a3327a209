import Foundation
import KioskCore
import VendSession

/// Throughput of the pure vend-session state machine: full paid vends (start, invoice,
/// 20 pending polls, paid, dispensed) and timed-out vends (cancel, re-check), per second.
func runSessionBenchmarks() async throws {
    let usd = Currency(iso: "USD")!
    let policy = SessionPolicy()
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let info = InvoiceInfo(
        reference: InvoiceReference("ref"), providerInvoiceID: "p", total: Money(minorUnits: 150, currency: usd),
        qrCodeImageURL: nil)
    func record(_ n: Int) -> SessionRecord {
        SessionRecord(
            tradeNo: TradeNo("T-\(n)"), vendID: VendID("v\(n % 1000)")!, product: ProductCode("5")!,
            itemDescription: "Soda", price: Money(minorUnits: 150, currency: usd), state: .requested,
            createdAt: start, updatedAt: start)
    }
    let clock = ContinuousClock()
    for (name, paid) in [("paid vend", true), ("timed-out vend", false)] {
        let vends = 50_000
        var effects = 0
        let elapsed = clock.measure {
            for n in 0..<vends {
                var machine = VendSessionMachine(newSession: record(n), policy: policy)
                var now = start
                effects += machine.handle(.start, now: now).count
                effects += machine.handle(.invoiceCreated(info, qrPayload: "pay:ref"), now: now).count
                for _ in 0..<20 {
                    now = now.addingTimeInterval(0.1)
                    effects += machine.handle(.statusPolled(.pending), now: now).count
                }
                if paid {
                    effects += machine.handle(.statusPolled(.paid), now: now).count
                    effects += machine.handle(.controllerDispensed, now: now).count
                } else {
                    now = now.addingTimeInterval(90)
                    effects += machine.handle(.timerFired(.paymentDeadline), now: now).count
                    effects += machine.handle(.cancelAnswered(.cancelled), now: now).count
                    effects += machine.handle(.statusPolled(.cancelled), now: now).count
                }
            }
        }
        let seconds = elapsed.inSeconds
        let perVend = seconds / Double(vends) * 1e6
        print(
            "session \(name): \(vends) vends in \(String(format: "%.3f", seconds)) s = "
                + "\(String(format: "%.2f", perVend)) us/vend (\(effects) effects)")
    }
}
