import Foundation
import KioskDaemon
import KioskTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct SystemdNotifierTests {
    @Test func sendsReadyAndStatusInOneDatagram() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path])
        #expect(notifier.notify(.ready, .status("waiting for customer")))
        #expect(socket.receive() == "READY=1\nSTATUS=waiting for customer")
    }

    @Test func statusStaysOnOneLine() {
        #expect(
            ServiceNotification.status("out of service:\nAPI unreachable").payload
                == "STATUS=out of service: API unreachable")
    }

    @Test func doesNothingWithoutNotifySocket() {
        #expect(SystemdNotifier(environment: [:]).notify(.ready) == false)
    }

    @Test func readsTheWatchdogIntervalForThisProcessOnly() {
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"]) == .seconds(30))
        #expect(
            SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"]) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: [:]) == nil)
    }
}

@Suite struct MetricsTests {
    @Test func rendersPrometheusTextWithEveryFamily() {
        let metrics = KioskMetrics(startedAt: Date(timeIntervalSince1970: 1_795_601_730.123))
        metrics.vendEnded(outcome: "dispensed")
        metrics.vendEnded(outcome: "dispensed")
        metrics.vendEnded(outcome: "refund_due")
        metrics.apiRequest(endpoint: "status", status: "200")
        metrics.apiRequest(endpoint: "create", status: "429")
        metrics.serialReconnected()
        metrics.paymentToDispense(.milliseconds(40))
        metrics.paymentToDispense(.milliseconds(700))
        metrics.setOpenAuditSessions([.refundDue: 1])
        metrics.setLastSale(Date(timeIntervalSince1970: 1_795_601_790.05))
        metrics.setJournalBytes(4096)
        let text = metrics.render()
        #expect(text.contains("drippay_kiosk_vends_total{outcome=\"dispensed\"} 2\n"))
        #expect(text.contains("drippay_kiosk_vends_total{outcome=\"refund_due\"} 1\n"))
        #expect(text.contains("drippay_kiosk_api_requests_total{endpoint=\"create\",status=\"429\"} 1\n"))
        #expect(text.contains("drippay_kiosk_api_rate_limited_total 1\n"))
        #expect(text.contains("drippay_kiosk_serial_reconnects_total 1\n"))
        #expect(text.contains("drippay_kiosk_payment_to_dispense_seconds_bucket{le=\"0.05\"} 1\n"))
        #expect(text.contains("drippay_kiosk_payment_to_dispense_seconds_bucket{le=\"1\"} 2\n"))
        #expect(text.contains("drippay_kiosk_payment_to_dispense_seconds_bucket{le=\"+Inf\"} 2\n"))
        #expect(text.contains("drippay_kiosk_payment_to_dispense_seconds_count 2\n"))
        #expect(text.contains("drippay_kiosk_open_audit_sessions{state=\"refund_due\"} 1\n"))
        // Every audit state has its line, zero included, so an alert sees 0 rather than nothing.
        #expect(text.contains("drippay_kiosk_open_audit_sessions{state=\"dispense_unknown\"} 0\n"))
        #expect(text.contains("drippay_kiosk_last_sale_timestamp_seconds 1795601790.050\n"))
        #expect(text.contains("drippay_kiosk_start_time_seconds 1795601730.123\n"))
        #expect(text.contains("drippay_kiosk_journal_bytes 4096\n"))
        // Every sample line belongs to a family declared with # TYPE.
        let declared = Set(
            text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] })
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            let family = declared.first { name == $0 || name.hasPrefix($0 + "_") }
            #expect(family != nil, "\(line) has no # TYPE")
        }
    }

    @Test func writesTheTextfileAtomically() throws {
        let dir = NSTemporaryDirectory() + "kiosk-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let metrics = KioskMetrics()
        metrics.vendEnded(outcome: "cancelled")
        try metrics.writeTextfile(to: dir + "/kiosk.prom")
        let written = try String(contentsOfFile: dir + "/kiosk.prom", encoding: .utf8)
        #expect(written == metrics.render())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["kiosk.prom"])
    }

    /// The unit's `UMask=0077` must not hide the file from node_exporter, which runs as another user.
    @Test func theTextfileIsWorldReadableUnderTheUnitsUmask() throws {
        let dir = NSTemporaryDirectory() + "kiosk-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Process-wide, so set only around the one write.
        let previous = umask(0o077)
        let written = Result { try KioskMetrics().writeTextfile(to: dir + "/kiosk.prom") }
        umask(previous)
        try written.get()
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/kiosk.prom")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o644)
    }
}
