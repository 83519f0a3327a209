import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskCore
import KioskDemo
import KioskJournal
import Logging
import ServiceLifecycle
import Testing
import VendSession

@testable import KioskDaemon

/// The daemon assembled from real pieces: the sandbox over loopback, the simulated controller
/// on a pty, the journal in a temp dir. Every wait is bounded.
@Suite struct DaemonTests {
    @Test func startTellsSystemdReadyStatusWatchdogAndStopping() async throws {
        try await withDaemonHarness() { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            let environment = ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"]
            try await harness.withDaemon(harness.options(environment: environment)) { _ in
                #expect(await notify.waitFor { $0 == "READY=1" } != nil)
                #expect(await notify.waitFor { $0 == "STATUS=waiting for customer" } != nil)
                #expect(await notify.waitFor { $0 == "WATCHDOG=1" } != nil)
                try await harness.simulator.waitForLine("READY")
            }
            #expect(await notify.waitFor { $0 == "STOPPING=1" } != nil)
        }
    }

    @Test func statusNamesTheVendBeingPaid() async throws {
        try await withDaemonHarness() { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            try await harness.withDaemon(harness.options(environment: ["NOTIFY_SOCKET": notify.path])) { _ in
                try await harness.simulator.waitForLine("READY")
                try await harness.simulator.vend(id: "9", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("ACCEPT 9")
                #expect(await notify.waitFor { $0 == "STATUS=customer paying: 1.50 USD (Soda)" } != nil)
            }
        }
    }

    @Test func paidVendDispensesOnceAndCountsMetrics() async throws {
        try await withDaemonHarness() { harness in
            try await harness.withDaemon(harness.options()) { daemon in
                try await harness.simulator.waitForLine("READY")
                try await harness.simulator.vend(id: "1", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("ACCEPT 1")
                let invoice = try #require(await harness.sandbox.invoices().first)
                #expect(await harness.sandbox.pay(InvoiceReference(invoice.reference)))
                try await harness.simulator.waitForLine("DISPENSE 1")
                try await harness.simulator.dispensed(id: "1")
                let outcome = await harness.outcome(of: "1")
                #expect(outcome?.ending == .finished(.dispensed))
                let text = daemon.metrics.render()
                #expect(text.contains("drippay_kiosk_vends_total{outcome=\"dispensed\"} 1"))
                #expect(
                    text.contains("drippay_kiosk_api_requests_total{endpoint=\"create\",status=\"201\"} 1")
                        || text.contains("drippay_kiosk_api_requests_total{endpoint=\"create\",status=\"200\"} 1"))
                #expect(text.contains("drippay_kiosk_payment_to_dispense_seconds_count 1"))
            }
            #expect(await harness.count("DISPENSE 1") == 1)
            let prom = try String(contentsOfFile: harness.directory + "/drippay_kiosk.prom", encoding: .utf8)
            #expect(prom.contains("drippay_kiosk_vends_total{outcome=\"dispensed\"} 1"))
            // The sale's end, from the journal, as the last sale (Unix seconds; 0 would be none).
            let journal = try Journal.openReadOnly(path: harness.directory + "/journal.sqlite")
            let sold = try #require(try journal.sessions(limit: 1, states: [.dispensed]).first)
            journal.close()
            let seconds = (sold.updatedAt.timeIntervalSince1970 * 1000).rounded() / 1000
            #expect(prom.contains("drippay_kiosk_last_sale_timestamp_seconds \(String(format: "%.3f", seconds))\n"))
        }
    }

    @Test func shutdownMidVendThenRestartResumesTheSameInvoice() async throws {
        try await withDaemonHarness(paymentTimeout: 30, resumeGrace: 10) { harness in
            try await harness.withDaemon(harness.options()) { _ in
                try await harness.simulator.waitForLine("READY")
                try await harness.simulator.vend(id: "7", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("ACCEPT 7")
            }
            // The controller heard that the kiosk went away; the session stays open in the journal.
            try await harness.simulator.waitForLine("OUT-OF-SERVICE shutting down")
            let journal = try Journal.open(path: harness.configuration.journal.path, machineID: "DEMO-1")
            let open = try journal.openSessions()
            journal.close()
            #expect(open.map(\.state) == [.invoiced])
            let firstQR = harness.screens.withLock { list -> String? in
                for case .pay(let qr, _, _, _) in list.reversed() { return qr }
                return nil
            }

            try await harness.withDaemon(harness.options()) { _ in
                try await harness.simulator.waitForLine("READY")
                try await harness.simulator.vend(id: "7", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("ACCEPT 7")
                let creates = await harness.sandbox.requests().filter { $0.method == "POST" }.count
                #expect(creates == 1, "the resumed vend creates no second invoice")
                let resumedQR = await harness.screen { if case .pay = $0 { return true } else { return false } }
                if case .pay(let qr, _, _, _)? = resumedQR { #expect(qr == firstQR) }
                let invoice = try #require(await harness.sandbox.invoices().first)
                #expect(await harness.sandbox.pay(InvoiceReference(invoice.reference)))
                try await harness.simulator.waitForLine("DISPENSE 7")
                try await harness.simulator.dispensed(id: "7")
                #expect(await harness.outcome(of: "7")?.ending == .finished(.dispensed))
            }
            #expect(await harness.count("DISPENSE 7") == 1)
        }
    }

    @Test func apiDownTakesTheKioskOutOfServiceAndBack() async throws {
        try await withDaemonHarness() { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            let options = harness.options(
                environment: ["NOTIFY_SOCKET": notify.path], healthInterval: .milliseconds(300),
                outOfServiceHealth: .milliseconds(200))
            try await harness.withDaemon(options) { _ in
                try await harness.simulator.waitForLine("READY")
                await harness.sandbox.goDown()
                try await harness.simulator.waitForLine("OUT-OF-SERVICE API unreachable", timeout: .seconds(15))
                #expect(
                    await notify.waitFor { $0.hasPrefix("STATUS=out of service: API unreachable (http://127.0.0.1") }
                        != nil
                )
                // A vend while out of service is refused, never invoiced.
                try await harness.simulator.vend(id: "3", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("DENY 3 unavailable")
                try await harness.sandbox.comeUp()
                try await harness.simulator.waitForLine("READY")
                #expect(await notify.waitFor { $0 == "STATUS=waiting for customer" } != nil)
            }
        }
    }

    @Test func tokenWithoutCancelAbilityIsOutOfServiceNamingIt() async throws {
        try await withDaemonHarness(abilities: [.listInvoice, .viewInvoice, .createInvoice]) { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            try await harness.withDaemon(harness.options(environment: ["NOTIFY_SOCKET": notify.path])) { _ in
                try await harness.simulator.waitForLine("OUT-OF-SERVICE token lacks abilities")
                #expect(
                    await notify.waitFor {
                        $0.hasPrefix("STATUS=out of service: token lacks abilities: cancel-invoice")
                    }
                        != nil)
                #expect(
                    await notify.waitFor { $0 == "READY=1" } != nil, "READY=1: the daemon is up, only out of service")
            }
            #expect(await harness.count("READY") == 0)
        }
    }

    @Test func serialLinkDownIsOutOfServiceUntilItComesBack() async throws {
        try await withDaemonHarness() { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            try await harness.withDaemon(harness.options(environment: ["NOTIFY_SOCKET": notify.path])) { daemon in
                try await harness.simulator.waitForLine("READY")
                await harness.simulator.unplug()
                #expect(await notify.waitFor { $0.hasPrefix("STATUS=out of service: serial link down") } != nil)
                let shown = await harness.screen { $0 == .outOfService(reason: "serial link down") }
                #expect(shown != nil)
                try await harness.simulator.plug()
                try await harness.simulator.waitForLine("READY")
                #expect(await notify.waitFor { $0 == "STATUS=waiting for customer" } != nil)
                #expect(daemon.metrics.render().contains("drippay_kiosk_serial_reconnects_total 1\n"))
            }
        }
    }

    @Test func corruptJournalIsAFatalStartError() async throws {
        try await withDaemonHarness() { harness in
            try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: harness.configuration.journal.path))
            let daemon = KioskDaemon(
                configuration: harness.configuration, token: harness.token, options: harness.options())
            await #expect(throws: DaemonError.self) { try await daemon.run() }
        }
    }

    @Test func demoEndsEachVendAsExpected() async throws {
        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        let report = try await KioskDemo.run(terminal: devNull, paymentTimeout: 2) { _ in }
        #expect(report.vends.map(\.got) == ["dispensed", "cancelled", "cancelled"])
        #expect(report.vends.map(\.invoiceStatus) == ["paid", "cancelled", "cancelled"])
        #expect(report.pendingInvoices == 0)
        #expect(report.ok)
    }
}

@Suite struct DaemonShutdownTests {
    /// Runs the daemon in a ServiceGroup (bounded at 20 s), takes vend `id` to `DISPENSE`, shuts
    /// the daemon down gracefully and, once the controller heard `OUT-OF-SERVICE shutting down`,
    /// runs `whileDraining` before the controller reports the dispense; returns when the daemon did.
    func stopDuringADispense(
        _ harness: DaemonHarness, options: KioskDaemonOptions, id: String,
        whileDraining: @escaping @Sendable () async throws -> Void = {}
    ) async throws {
        let daemon = KioskDaemon(configuration: harness.configuration, token: harness.token, options: options)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [daemon], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                try await Task.sleep(for: .seconds(20))
                throw HarnessError.shutdownTimedOut
            }
            try await harness.simulator.waitForLine("READY")
            try await harness.simulator.vend(id: id, product: "5", price: "1.50")
            try await harness.simulator.waitForLine("ACCEPT \(id)")
            let invoice = try #require(await harness.sandbox.invoices().first)
            #expect(await harness.sandbox.pay(InvoiceReference(invoice.reference)))
            try await harness.simulator.waitForLine("DISPENSE \(id)")
            await group.triggerGracefulShutdown()
            // Told to stop taking vends, the daemon still hears how the dispense ended.
            try await harness.simulator.waitForLine("OUT-OF-SERVICE shutting down")
            try await whileDraining()
            try await harness.simulator.dispensed(id: id)
            try await tasks.next()
            tasks.cancelAll()
        }
    }

    @Test func shutdownLetsADispenseInFlightFinish() async throws {
        try await withDaemonHarness() { harness in
            try await stopDuringADispense(harness, options: harness.options(), id: "4")
            #expect(harness.outcomes.withLock { $0.first?.ending } == .finished(.dispensed))
            let journal = try Journal.open(path: harness.configuration.journal.path, machineID: "DEMO-1")
            #expect(try journal.openSessions().isEmpty)
            journal.close()
        }
    }

    /// The services stop in reverse order of the daemon's list: the watchdog, listed before the
    /// coordinator, keeps pinging after STOPPING=1 while the coordinator drains a dispense.
    @Test func theWatchdogPingsThroughTheDrain() async throws {
        try await withDaemonHarness() { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            let environment = ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"]
            try await stopDuringADispense(harness, options: harness.options(environment: environment), id: "6") {
                #expect(await notify.waitFor { $0 == "STOPPING=1" } != nil)
                let stopping = try #require(notify.lines.firstIndex(of: "STOPPING=1"))
                // The dispense is still open: the drain waits for it, and the watchdog goes on.
                #expect(await notify.waitFor(after: stopping + 1) { $0 == "WATCHDOG=1" } != nil)
            }
            #expect(harness.outcomes.withLock { $0.first?.ending } == .finished(.dispensed))
        }
    }
}

@Suite struct RunCommandTests {
    @Test func aConfigProblemExits78WithoutStarting() async throws {
        let directory = NSTemporaryDirectory() + "kiosk-run-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/kiosk.toml"
        try "machine_id = \"M-1\"\nprofile = \"simulator\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(await DaemonCommand.run(configFile: file, environment: [:]) == 78)
        #expect(!FileManager.default.fileExists(atPath: directory + "/journal.sqlite"))
    }

    @Test func aReadableTokenFileExits78() async throws {
        try await withDaemonHarness() { harness in
            chmod(harness.configuration.api.tokenFile, 0o644)
            #expect(await DaemonCommand.run(configFile: harness.configuration.configFile, environment: [:]) == 78)
        }
    }
}
