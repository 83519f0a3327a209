import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskCore
import Testing
import VendSession

@testable import KioskDaemon

/// The whole daemon against the simulated Qibixx adapter on a pty: set-up, sales, cancels,
/// resets, immediate denies and durable vend ids.
@Suite("Daemon with a Qibixx MDB adapter", .serialized)
struct MDBDaemonTests {
    private func isPay(_ intent: ScreenIntent) -> Bool {
        if case .pay = intent { true } else { false }
    }

    /// Waits for the daemon's set-up to finish and the machine to enable the reader.
    private func enabled(_ harness: DaemonHarness) async throws {
        try await harness.simulator.waitForLine("C,1", timeout: .seconds(10))
        #expect(await harness.simulator.adapter?.phase == .enabled)
    }

    /// A customer picks product 5 at 1.50 and the QR comes up.
    private func customerPicks(_ harness: DaemonHarness, product: String = "5") async throws {
        try await harness.simulator.adapterDoes("select") { $0.select(amount: "1.50", product: product) }
    }

    private func paid(_ harness: DaemonHarness) async throws {
        try await customerPicks(harness)
        #expect(await harness.screen(isPay) != nil)
        let invoice = try #require(await harness.sandbox.invoices().first)
        #expect(await harness.sandbox.pay(InvoiceReference(invoice.reference)))
        try await harness.simulator.waitForLine("C,VEND,1.50")
    }

    @Test func aPaidSaleIsApprovedAndDispensed() async throws {
        let harness = try await DaemonHarness(adapter: QibixxAdapterModel())
        try await harness.withDaemon(harness.options()) { _ in
            try await enabled(harness)
            #expect(await harness.simulator.adapter?.configuration["mdb-currency-code"] == "0x1840")
            try await paid(harness)
            try await harness.simulator.adapterDoes("dispense") { $0.dispensed() }
            #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.dispensed))
        }
        #expect(await harness.count("C,VEND,1.50") == 1)
        await harness.tearDown()
    }

    @Test func theMachineCancellingCancelsTheInvoice() async throws {
        let harness = try await DaemonHarness(adapter: QibixxAdapterModel())
        try await harness.withDaemon(harness.options()) { _ in
            try await enabled(harness)
            try await customerPicks(harness)
            #expect(await harness.screen(isPay) != nil)
            try await harness.simulator.adapterDoes("cancel") { $0.cancelled() }
            #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.cancelled))
            #expect(await harness.sandbox.invoices().first?.status == .cancelled)
        }
        await harness.tearDown()
    }

    @Test func anUnknownProductIsDeniedAtOnce() async throws {
        let harness = try await DaemonHarness(adapter: QibixxAdapterModel())
        try await harness.withDaemon(harness.options()) { _ in
            try await enabled(harness)
            try await customerPicks(harness, product: "99")
            try await harness.simulator.waitForLine("C,VEND,-1", timeout: .seconds(2))
            #expect(await harness.sandbox.invoices().isEmpty)
        }
        await harness.tearDown()
    }

    @Test func approvedThenResetIsDispenseUnknownNeverARefund() async throws {
        let harness = try await DaemonHarness(adapter: QibixxAdapterModel())
        try await harness.withDaemon(harness.options()) { _ in
            try await enabled(harness)
            try await paid(harness)
            try await harness.simulator.adapterDoes("reset") { Optional($0.machineReset()) }
            #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.dispenseUnknown))
        }
        await harness.tearDown()
    }

    @Test func aFailedVendAfterApprovalIsARefundDue() async throws {
        let harness = try await DaemonHarness(adapter: QibixxAdapterModel())
        try await harness.withDaemon(harness.options()) { _ in
            try await enabled(harness)
            try await paid(harness)
            try await harness.simulator.adapterDoes("fail") { $0.failed() }
            #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.refundDue))
        }
        await harness.tearDown()
    }

    @Test func vendIDsComeFromTheJournalAndAreNeverRepeatedAfterARestart() async throws {
        let first = try await DaemonHarness(adapter: QibixxAdapterModel())
        try await first.withDaemon(first.options()) { _ in
            try await enabled(first)
            try await customerPicks(first)
            #expect(await first.screen(isPay) != nil)
            try await first.simulator.adapterDoes("cancel") { $0.cancelled() }
            #expect(await first.outcome(of: "mdb-1")?.ending == .finished(.cancelled))
        }
        await first.tearDown(keepDirectory: true)
        let second = try await DaemonHarness(adapter: QibixxAdapterModel(), directory: first.directory)
        try await second.withDaemon(second.options()) { _ in
            try await enabled(second)
            try await customerPicks(second)
            #expect(await second.screen(isPay) != nil)
            let open = second.outcomes.withLock { $0.map(\.record.vendID.rawValue) }
            #expect(open.isEmpty)
            try await second.simulator.adapterDoes("cancel") { $0.cancelled() }
            // A new block of ids: the first start reserved mdb-1...mdb-64.
            #expect(await second.outcome(of: "mdb-65")?.ending == .finished(.cancelled))
        }
        await second.tearDown()
    }
}
