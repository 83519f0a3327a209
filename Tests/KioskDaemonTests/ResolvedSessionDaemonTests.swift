import Foundation
import KioskCore
import KioskDaemon
import KioskJournal
import Testing

@Suite struct ResolvedSessionDaemonTests {
    /// Two refunds due and a dispense unknown from earlier runs, one refund resolved by an
    /// operator: the daemon's open-audit gauge counts the open ones, and its start leaves every
    /// one of them as it was.
    @Test func theOpenAuditGaugeCountsOnlySessionsNoOperatorResolved() async throws {
        try await withDaemonHarness() { harness in
            let path = harness.directory + "/journal.sqlite"
            let earlier = try Journal.open(path: path, machineID: "TEST")
            let usd = Currency(code: "USD", minorDigits: 2)
            var records: [SessionRecord] = []
            for (index, state) in [SessionState.refundDue, .refundDue, .dispenseUnknown].enumerated() {
                let record = SessionRecord(
                    tradeNo: TradeNo("OLD-\(index)"), vendID: VendID("old\(index)")!, product: ProductCode("5")!,
                    itemDescription: "Soda", price: Money(minorUnits: 150, currency: usd), state: state,
                    createdAt: Date(timeIntervalSince1970: 1_795_000_000),
                    updatedAt: Date(timeIntervalSince1970: 1_795_000_000))
                try earlier.insert(record, event: "x", detail: "")
                records.append(record)
            }
            try earlier.resolve(tradeNo: TradeNo("OLD-0"), note: "refunded", by: "alice", at: Date())
            earlier.close()

            try await harness.withDaemon(harness.options()) { daemon in
                try await harness.simulator.waitForLine("READY")
                let text = daemon.metrics.render()
                #expect(text.contains("drippay_kiosk_open_audit_sessions{state=\"refund_due\"} 1\n"))
                #expect(text.contains("drippay_kiosk_open_audit_sessions{state=\"dispense_unknown\"} 1\n"))
                #expect(text.contains("drippay_kiosk_last_sale_timestamp_seconds 0\n"))
            }
            let after = try Journal.openReadOnly(path: path)
            defer { after.close() }
            for record in records { #expect(try after.session(tradeNo: record.tradeNo) == record) }
            #expect(try after.resolution(tradeNo: TradeNo("OLD-0"))?.resolvedBy == "alice")
        }
    }
}
