import KioskCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's metrics, rendered in the Prometheus text exposition format for node_exporter's
/// textfile collector or a scrape. Counters only go up; the histogram has fixed buckets.
public final class KioskMetrics: Sendable {
    /// Upper bounds (seconds) of the payment-to-dispense latency buckets.
    public static let latencyBuckets: [Double] = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    private struct State {
        var vendsByOutcome: [String: Int] = [:]
        var apiRequests: [APIRequestKey: Int] = [:]
        var rateLimited = 0
        var malformedInvoices = 0
        var serialReconnects = 0
        var latencyCounts: [Int]
        var latencySum: Double = 0
        var latencyCount = 0
        /// Sessions in each audit state no operator has resolved yet, every such state present.
        var openAuditSessions = Dictionary(uniqueKeysWithValues: SessionState.operatorSettleable.map { ($0, 0) })
        var startTime: Date
        var lastSale: Date?
        var journalBytes: Int64 = 0
        var inService = false
        var journalWriteFailures = 0
        var journalWritable = true
    }

    private struct APIRequestKey: Hashable, Comparable {
        var endpoint: String
        var status: String
        static func < (a: Self, b: Self) -> Bool { (a.endpoint, a.status) < (b.endpoint, b.status) }
    }

    private let state: Mutex<State>

    /// `startedAt`: when this daemon started (`drippay_kiosk_start_time_seconds`: each change is a restart).
    public init(startedAt: Date = Date()) {
        state = Mutex(
            State(
                latencyCounts: Array(repeating: 0, count: KioskMetrics.latencyBuckets.count), startTime: startedAt))
    }

    /// A session ended in `outcome` (a final session state, e.g. `dispensed`, `refund_due`).
    public func vendEnded(outcome: String) {
        state.withLock { $0.vendsByOutcome[outcome, default: 0] += 1 }
    }

    /// One API request finished: `endpoint` is a route name (`status`, `create`, ...), `status`
    /// the HTTP status or an error class (`timeout`, `connection`).
    public func apiRequest(endpoint: String, status: String) {
        state.withLock {
            $0.apiRequests[APIRequestKey(endpoint: endpoint, status: status), default: 0] += 1
            if status == "429" { $0.rateLimited += 1 }
        }
    }

    public func serialReconnected() { state.withLock { $0.serialReconnects += 1 } }

    /// Time from the API answering `paid` to the dispense line written on the serial port.
    public func paymentToDispense(_ duration: Duration) {
        let seconds = duration.inSeconds
        state.withLock { s in
            for (index, bound) in KioskMetrics.latencyBuckets.enumerated() where seconds <= bound {
                s.latencyCounts[index] += 1
            }
            s.latencySum += seconds
            s.latencyCount += 1
        }
    }

    /// Sessions awaiting an operator (`journal refunds`), by audit state; states absent count 0.
    public func setOpenAuditSessions(_ counts: [SessionState: Int]) {
        state.withLock { s in
            for audit in SessionState.operatorSettleable { s.openAuditSessions[audit] = counts[audit] ?? 0 }
        }
    }
    /// When the newest sale (a session that ended `dispensed`) ended; nil when the journal has none.
    public func setLastSale(_ at: Date?) { state.withLock { $0.lastSale = at } }
    /// Distinct malformed invoices skipped in list pages so far (`DripPayClient.skippedInvoices`).
    public func setMalformedInvoices(_ count: Int) { state.withLock { $0.malformedInvoices = count } }
    public func setJournalBytes(_ bytes: Int64) { state.withLock { $0.journalBytes = bytes } }
    public func setInService(_ value: Bool) { state.withLock { $0.inService = value } }

    /// The journal stopped taking writes (one count per episode) or took one again.
    public func journalWritable(_ writable: Bool) {
        state.withLock { s in
            if s.journalWritable && !writable { s.journalWriteFailures += 1 }
            s.journalWritable = writable
        }
    }

    /// The metrics in Prometheus text format (version 0.0.4).
    public func render() -> String {
        let s = state.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("drippay_kiosk_vends_total", "counter", "Vend sessions ended, by final state.")
        for (outcome, count) in s.vendsByOutcome.sorted(by: { $0.key < $1.key }) {
            out += "drippay_kiosk_vends_total{outcome=\"\(escape(outcome))\"} \(count)\n"
        }
        family(
            "drippay_kiosk_api_requests_total", "counter",
            "DripPay API requests, by endpoint and HTTP status or error class.")
        for (key, count) in s.apiRequests.sorted(by: { $0.key < $1.key }) {
            out +=
                "drippay_kiosk_api_requests_total{endpoint=\"\(escape(key.endpoint))\",status=\"\(escape(key.status))\"} \(count)\n"
        }
        family("drippay_kiosk_api_rate_limited_total", "counter", "API answers 429 Too Many Requests.")
        out += "drippay_kiosk_api_rate_limited_total \(s.rateLimited)\n"
        family(
            "drippay_kiosk_api_malformed_invoices_total", "counter",
            "Invoices of GET /invoices pages that did not decode and were skipped (each counted once).")
        out += "drippay_kiosk_api_malformed_invoices_total \(s.malformedInvoices)\n"
        family(
            "drippay_kiosk_serial_reconnects_total", "counter",
            "Times the controller's serial link came back after an outage.")
        out += "drippay_kiosk_serial_reconnects_total \(s.serialReconnects)\n"
        family(
            "drippay_kiosk_payment_to_dispense_seconds", "histogram",
            "From the API answering paid to the dispense command on the serial line.")
        for (index, bound) in KioskMetrics.latencyBuckets.enumerated() {
            out +=
                "drippay_kiosk_payment_to_dispense_seconds_bucket{le=\"\(formatBound(bound))\"} \(s.latencyCounts[index])\n"
        }
        out += "drippay_kiosk_payment_to_dispense_seconds_bucket{le=\"+Inf\"} \(s.latencyCount)\n"
        out += "drippay_kiosk_payment_to_dispense_seconds_sum \(s.latencySum)\n"
        out += "drippay_kiosk_payment_to_dispense_seconds_count \(s.latencyCount)\n"
        family(
            "drippay_kiosk_open_audit_sessions", "gauge",
            "Sessions in an audit state (refund_due, dispense_unknown) no operator has resolved yet, by state.")
        for audit in SessionState.operatorSettleable {
            out += "drippay_kiosk_open_audit_sessions{state=\"\(audit.rawValue)\"} \(s.openAuditSessions[audit] ?? 0)\n"
        }
        family(
            "drippay_kiosk_last_sale_timestamp_seconds", "gauge",
            "Unix time the newest dispensed session ended (0: none in the journal).")
        out += "drippay_kiosk_last_sale_timestamp_seconds \(formatSeconds(s.lastSale))\n"
        family("drippay_kiosk_start_time_seconds", "gauge", "Unix time the daemon started; a change is a restart.")
        out += "drippay_kiosk_start_time_seconds \(formatSeconds(s.startTime))\n"
        family("drippay_kiosk_journal_bytes", "gauge", "Size of the SQLite journal file.")
        out += "drippay_kiosk_journal_bytes \(s.journalBytes)\n"
        family(
            "drippay_kiosk_journal_write_failures_total", "counter",
            "Times the journal stopped taking writes (full or read-only storage).")
        out += "drippay_kiosk_journal_write_failures_total \(s.journalWriteFailures)\n"
        family("drippay_kiosk_journal_writable", "gauge", "1 while the journal takes writes.")
        out += "drippay_kiosk_journal_writable \(s.journalWritable ? 1 : 0)\n"
        family("drippay_kiosk_in_service", "gauge", "1 while the kiosk can take payments.")
        out += "drippay_kiosk_in_service \(s.inService ? 1 : 0)\n"
        return out
    }

    /// Writes the metrics to `path` atomically (temp file + rename), as node_exporter's textfile
    /// collector requires: it must never read a half-written file.
    ///
    /// No fsync (`Data.write` did one, on every session end: one per vend on the SD card). A power
    /// cut can lose the last file's content; harmless: nothing reads it back, and the daemon writes
    /// it again at start and every metrics interval.
    public func writeTextfile(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        try Self.writeWithoutSync(Array(render().utf8), to: temp.path)
        guard rename(temp.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw MetricsTextfileError(description: "cannot rename metrics file into \(path): \(reason)")
        }
    }

    private static func writeWithoutSync(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw MetricsTextfileError(description: "cannot create \(path): \(reason)")
        }
        defer { close(fd) }
        // Readable by node_exporter's user whatever the daemon's umask (the unit's UMask=0077 would
        // make it 0600, owned by the daemon's dynamic user): metrics hold nothing secret.
        guard fchmod(fd, 0o644) == 0 else {
            throw MetricsTextfileError(description: "cannot make \(path) readable: \(String(cString: strerror(errno)))")
        }
        if let code = bytes.withUnsafeBytes({ FileDescriptorWrite.all($0, to: fd) }) {
            throw MetricsTextfileError(description: "cannot write \(path): \(String(cString: strerror(code)))")
        }
    }

    /// Writing the textfile failed (FoundationEssentials has no `NSLocalizedDescriptionKey` for a
    /// `CocoaError`).
    struct MetricsTextfileError: Error, CustomStringConvertible {
        let description: String
    }

    private func escape(_ value: String) -> String {
        value.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
            .replacingAll("\n", with: "\\n")
    }

    /// Unix seconds with millisecond precision, as Prometheus's own `*_timestamp_seconds`; 0 for nil.
    private func formatSeconds(_ date: Date?) -> String {
        guard let date else { return "0" }
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    private func formatBound(_ bound: Double) -> String {
        bound == bound.rounded() ? String(Int(bound)) : String(bound)
    }
}
