import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal
import Testing
import VendSession

@testable import KioskDaemon

/// Issue 14: a graceful stop leaves no pay screen up and no invoice payable that nobody can claim.
@Suite("Daemon: graceful stop (SIGTERM)", .serialized)
struct ShutdownTests {
    @Test func aStopDuringAVmcLineVendDrawsTheOutOfServiceScreenAndKeepsTheSessionForResume() async throws {
        try await withDaemonHarness(paymentTimeout: 30, resumeGrace: 10) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await harness.simulator.waitForLine("READY")
                try await harness.simulator.vend(id: "7", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("ACCEPT 7")
                _ = await harness.screen { if case .pay = $0 { return true } else { return false } }
            }
            #expect(
                harness.screens.withLock { $0.last } == .outOfService(reason: "shutting down"),
                "no QR left on the display")
            let journal = try Journal.open(path: harness.configuration.journal.path, machineID: "DEMO-1")
            defer { journal.close() }
            #expect(try journal.openSessions().map(\.state) == [.invoiced], "vmc-line: kept for the resume")
            #expect(await harness.sandbox.invoices().map(\.status) == [.pending])
        }
    }

    @Test func aStopDuringAQibixxVendCancelsItsInvoiceWithARecheckAndDrawsTheOutOfServiceScreen() async throws {
        try await withDaemonHarness(paymentTimeout: 30, resumeGrace: 10, adapter: QibixxAdapterModel()) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await harness.simulator.waitForLine("C,1")  // after the set-up; the machine enables the reader
                try await harness.simulator.adapterDoes("select") { $0.select(amount: "1.50", product: "5") }
                let pay = await harness.screen { if case .pay = $0 { return true } else { return false } }
                try #require(pay != nil, "the vend got its QR")
            }
            #expect(harness.screens.withLock { $0.last } == .outOfService(reason: "shutting down"))
            let invoices = await harness.sandbox.invoices()
            #expect(invoices.count == 1)
            #expect(
                invoices.allSatisfy { $0.deleted || $0.status == .cancelled }, "no payable invoice left: \(invoices)")
            let journal = try Journal.open(path: harness.configuration.journal.path, machineID: "DEMO-1")
            defer { journal.close() }
            #expect(try journal.openSessions().isEmpty, "nobody can re-claim an MDB vend: settled before exit")
            let statusReads = await harness.sandbox.requests().filter {
                $0.method == "GET" && $0.path.hasSuffix("/status")
            }
            #expect(!statusReads.isEmpty)
            let cancels = await harness.sandbox.requests().filter { $0.method == "DELETE" }
            #expect(cancels.count == 1)
        }
    }
}
