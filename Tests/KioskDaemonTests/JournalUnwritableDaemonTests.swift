import Foundation
import KioskCore
import Testing

@testable import KioskDaemon

/// Issue 14, item 1, with the real journal and a real kernel fault: `RLIMIT_FSIZE` at the
/// journal's current size makes every write that extends a file fail (EFBIG), as a full card
/// does (ENOSPC). SIGXFSZ is ignored so the write fails instead of killing the process.
@Suite("Daemon: a journal that stops taking writes", .serialized)
struct JournalUnwritableDaemonTests {
    static func limitFileSize(_ bytes: UInt64?) {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
        limit.rlim_cur = bytes.map { rlim_t($0) } ?? limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit)
    }

    static func size(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.uint64Value ?? 0
    }

    @Test func theKioskGoesOutOfServiceTellsTheControllerDeniesTheVendAndComesBackByItself() async throws {
        try await withDaemonHarness(paymentTimeout: 30, resumeGrace: 10) { harness in
            let previous = signal(SIGXFSZ, SIG_IGN)
            defer {
                Self.limitFileSize(nil)
                signal(SIGXFSZ, previous)
            }
            try await harness.withDaemon(harness.options()) { daemon in
                try await harness.simulator.waitForLine("READY")
                try await harness.simulator.vend(id: "9", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("ACCEPT 9")
                let journal = harness.configuration.journal.path
                Self.limitFileSize(max(Self.size(journal + "-wal"), Self.size(journal)))
                try await harness.simulator.abort(id: "9")
                try await harness.simulator.waitForLine("OUT-OF-SERVICE journal unwritable", timeout: .seconds(10))
                try await harness.simulator.waitForLine("DENY 9 aborted", timeout: .seconds(10))
                #expect(daemon.metrics.render().contains("drippay_kiosk_journal_write_failures_total 1"))
                #expect(daemon.metrics.render().contains("drippay_kiosk_journal_writable 0"))
                try await harness.simulator.vend(id: "10", product: "5", price: "1.50")
                try await harness.simulator.waitForLine("DENY 10 unavailable")
                Self.limitFileSize(nil)
                try await harness.simulator.waitForLine("READY", timeout: .seconds(10))
                #expect(daemon.metrics.render().contains("drippay_kiosk_journal_writable 1"))
                // The session whose last write failed is settled from the journal: cancelled.
                let settled = await harness.changed.wait(
                    until: {
                        harness.outcomes.withLock { list in
                            list.contains { $0.record.vendID.rawValue == "9" && $0.ending == .finished(.cancelled) }
                        }
                    }, timeout: .seconds(15))
                #expect(settled, "\(harness.outcomes.withLock { $0 })")
                let parked = harness.outcomes.withLock { list in
                    list.contains { if case .parked = $0.ending { $0.record.vendID.rawValue == "9" } else { false } }
                }
                #expect(parked, "the failed write was reported as a parked session first")
            }
            let received = await harness.simulator.received
            #expect(received.filter { $0 == "OUT-OF-SERVICE journal unwritable" }.count == 1, "told once: \(received)")
        }
    }

    /// The watchdog's write probe finds the fault while nobody is paying: out of service before
    /// the next customer asks, and the pings go on (a restart could not open the journal either).
    @Test func anIdleKioskGoesOutOfServiceFromTheWatchdogProbeAndKeepsPinging() async throws {
        try await withDaemonHarness() { harness in
            let notify = try NotifyCollector()
            defer { notify.stop() }
            let previous = signal(SIGXFSZ, SIG_IGN)
            defer {
                Self.limitFileSize(nil)
                signal(SIGXFSZ, previous)
            }
            let environment = ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"]
            try await harness.withDaemon(harness.options(environment: environment)) { daemon in
                try await harness.simulator.waitForLine("READY")
                let journal = harness.configuration.journal.path
                Self.limitFileSize(max(Self.size(journal + "-wal"), Self.size(journal)))
                try await harness.simulator.waitForLine("OUT-OF-SERVICE journal unwritable", timeout: .seconds(10))
                let pingsAtFault = notify.lines.filter { $0 == "WATCHDOG=1" }.count
                try await Task.sleep(for: .seconds(1))
                let pingsLater = notify.lines.filter { $0 == "WATCHDOG=1" }.count
                #expect(pingsLater > pingsAtFault, "pings go on while the journal refuses writes")
                #expect(daemon.metrics.render().contains("drippay_kiosk_journal_writable 0"))
                Self.limitFileSize(nil)
                try await harness.simulator.waitForLine("READY", timeout: .seconds(10))
                #expect(daemon.metrics.render().contains("drippay_kiosk_journal_writable 1"))
            }
        }
    }
}
