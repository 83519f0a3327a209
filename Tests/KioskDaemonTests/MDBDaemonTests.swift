import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskCore
import KioskDisplay
import Synchronization
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
        try await withDaemonHarness(adapter: QibixxAdapterModel()) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await enabled(harness)
                #expect(await harness.simulator.adapter?.configuration["mdb-currency-code"] == "0x1840")
                try await paid(harness)
                try await harness.simulator.adapterDoes("dispense") { $0.dispensed() }
                #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.dispensed))
            }
            #expect(await harness.count("C,VEND,1.50") == 1)
        }
    }

    @Test func theMachineCancellingCancelsTheInvoice() async throws {
        try await withDaemonHarness(adapter: QibixxAdapterModel()) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await enabled(harness)
                try await customerPicks(harness)
                #expect(await harness.screen(isPay) != nil)
                try await harness.simulator.adapterDoes("cancel") { $0.cancelled() }
                #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.cancelled))
                #expect(await harness.sandbox.invoices().first?.status == .cancelled)
            }
        }
    }

    @Test func anUnknownProductIsDeniedAtOnce() async throws {
        try await withDaemonHarness(adapter: QibixxAdapterModel()) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await enabled(harness)
                try await customerPicks(harness, product: "99")
                try await harness.simulator.waitForLine("C,VEND,-1", timeout: .seconds(2))
                #expect(await harness.sandbox.invoices().isEmpty)
            }
        }
    }

    @Test func approvedThenResetIsDispenseUnknownNeverARefund() async throws {
        try await withDaemonHarness(adapter: QibixxAdapterModel()) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await enabled(harness)
                try await paid(harness)
                try await harness.simulator.adapterDoes("reset") { Optional($0.machineReset()) }
                #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.dispenseUnknown))
            }
        }
    }

    @Test func aFailedVendAfterApprovalIsARefundDue() async throws {
        try await withDaemonHarness(adapter: QibixxAdapterModel()) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await enabled(harness)
                try await paid(harness)
                try await harness.simulator.adapterDoes("fail") { $0.failed() }
                #expect(await harness.outcome(of: "mdb-1")?.ending == .finished(.refundDue))
            }
        }
    }

    @Test func vendIDsComeFromTheJournalAndAreNeverRepeatedAfterARestart() async throws {
        // The first run's directory is kept for the second (the same journal).
        let directory = try await withDaemonHarness(adapter: QibixxAdapterModel(), keepDirectory: true) { first in
            try await first.withDaemon(first.options()) { _ in
                try await enabled(first)
                try await customerPicks(first)
                #expect(await first.screen(isPay) != nil)
                try await first.simulator.adapterDoes("cancel") { $0.cancelled() }
                #expect(await first.outcome(of: "mdb-1")?.ending == .finished(.cancelled))
            }
            return first.directory
        }
        try await withDaemonHarness(adapter: QibixxAdapterModel(), directory: directory) { second in
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
        }
    }
}

/// A display that keeps every screen drawn and wakes waiters on each.
final class ScreenLog: DisplayOutput, Sendable {
    private let screens = Mutex<[Screen]>([])
    private let pulse = Pulse()

    func show(_ screen: Screen) async throws {
        screens.withLock { $0.append(screen) }
        pulse.signal()
    }

    var all: [Screen] { screens.withLock { $0 } }

    /// The first screen after the first `index` that matches, waiting up to `timeout`.
    func first(
        after index: Int = 0, timeout: Duration = .seconds(5), _ matches: @escaping @Sendable (Screen) -> Bool
    ) async -> (Int, Screen)? {
        _ = await pulse.wait(until: { self.all.dropFirst(index).contains(where: matches) }, timeout: timeout)
        let list = all
        guard let at = list.indices.dropFirst(index).first(where: { matches(list[$0]) }) else { return nil }
        return (at, list[at])
    }
}

@Suite("Daemon with a Qibixx MDB adapter: going out of service", .serialized)
struct MDBOutOfServiceTests {
    static func payScreen(_ screen: Screen) -> PayScreen? {
        if case .pay(let pay) = screen { pay } else { nil }
    }

    @Test func outOfServiceDuringAVendKeepsTheCodeShowsWhyAndDisablesTheReaderAfterTheVend() async throws {
        try await withDaemonHarness(adapter: QibixxAdapterModel()) { harness in
            let display = ScreenLog()
            let options = harness.options(
                display: display, healthInterval: .milliseconds(300), outOfServiceHealth: .milliseconds(200))
            try await harness.withDaemon(options) { _ in
                try await harness.simulator.waitForLine("C,1", timeout: .seconds(10))
                try await harness.simulator.adapterDoes("select") { $0.select(amount: "1.50", product: "5") }
                // The invoice's own QR, fetched by the keeper.
                let (firstAt, first) = try #require(
                    await display.first(timeout: .seconds(10)) {
                        if let pay = Self.payScreen($0), case .text = pay.code { pay.notice == nil } else { false }
                    })
                let disablesBefore = await harness.count("C,0")
                for _ in 0..<disablesBefore { try await harness.simulator.waitForLine("C,0") }  // the set-up's
                await harness.sandbox.goDown()
                let (noticeAt, noticed) = try #require(
                    await display.first(after: firstAt, timeout: .seconds(15)) { Self.payScreen($0)?.notice != nil })
                let notice = try #require(Self.payScreen(noticed)?.notice)
                #expect(notice.contains("API unreachable"), "the operator's reason travels with the screen: \(notice)")
                #expect(
                    TerminalArt.lines(for: noticed, qr: nil, colors: false)
                        .contains("Notice: This machine goes out of service after this sale."))
                // Same code, never re-fetched: a restarted keeper would first draw "getting the code" (and the API is down).
                #expect(Self.payScreen(noticed)?.code == Self.payScreen(first)?.code)
                let between = display.all[firstAt...noticeAt].compactMap(Self.payScreen)
                #expect(between.allSatisfy { $0.code == Self.payScreen(first)?.code })
                // The reader stays enabled while the vend is open.
                #expect(await harness.count("C,0") == disablesBefore)
                try await harness.simulator.adapterDoes("cancel") { $0.cancelled() }
                try await harness.simulator.waitForLine("C,0", timeout: .seconds(5))
                // The vend is over (its cancel waits for the API, which is down, until its own timeout):
                // the next screen is not a pay screen, and no pay screen comes after it.
                let (endAt, _) = try #require(
                    await display.first(after: noticeAt + 1, timeout: .seconds(30)) { Self.payScreen($0) == nil })
                #expect(display.all.dropFirst(endAt).allSatisfy { Self.payScreen($0) == nil })
            }
        }
    }

    @Test func aRefusedParameterTakesTheKioskOutOfServiceUntilASetUpSucceeds() async throws {
        var model = QibixxAdapterModel()
        model.refusedParameters = ["mdb-scale-factor"]
        try await withDaemonHarness(adapter: model) { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            try await harness.withDaemon(harness.options(environment: ["NOTIFY_SOCKET": notify.path])) { _ in
                let status = try #require(
                    await notify.waitFor(.seconds(10)) {
                        $0.hasPrefix("STATUS=out of service: payment adapter set-up refused")
                    })
                #expect(status.contains("C,SETCONF,mdb-scale-factor=1") && status.contains("c,ERR"))
                #expect(status.contains("qibixx.scale_factor"))
                #expect(await harness.count("C,1") == 0)
                let seen = notify.lines.count
                // The technician fixes the adapter; it is set up again on the next reconnect.
                try await harness.simulator.adapterDoes("accept every parameter") {
                    $0.refusedParameters = []
                    return []
                }
                try await harness.simulator.replug()
                try await harness.simulator.waitForLine("C,1", timeout: .seconds(10))
                #expect(await notify.waitFor(after: seen, .seconds(10)) { $0 == "STATUS=waiting for customer" } != nil)
                #expect(await harness.simulator.adapter?.configuration["mdb-scale-factor"] == "1")
            }
        }
    }
}
