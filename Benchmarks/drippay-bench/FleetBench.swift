import Foundation
import KioskTestSupport

/// `drippay-bench fleet`: N machines on one account (one sandbox, one token, the API's limits of
/// 60 and 600 a minute per token), customers paying 1-6 s after their QR appears at every machine.
/// For each N: paid -> DISPENSE median and p99, API requests per vend, 429 answers (and after the
/// first minute), machine-seconds out of service, vends denied. `FLEET_MACHINES` (default
/// "1 5 10 20"), `FLEET_SECONDS` (default 90), `DRIPPAY_KIOSK_BINARY` (default: the built one).
func runFleetBenchmarks() async throws {
    let environment = ProcessInfo.processInfo.environment
    let sizes = (environment["FLEET_MACHINES"] ?? "1 5 10 20").split(separator: " ").compactMap { Int($0) }
    let seconds = environment["FLEET_SECONDS"].flatMap(Int.init) ?? 90
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    guard let binary = BuiltExecutable.kiosk(repositoryRoot: root) else {
        throw BenchFailure("no built drippay-kiosk: run `swift build` first or set DRIPPAY_KIOSK_BINARY")
    }
    print("fleet: \(binary), \(seconds) s a run, customers pay 1-6 s after the QR")
    print(
        "  machines  vends  dispensed  paid->DISPENSE median / p99   requests/vend  429s (after 60 s)  out of service  denied"
    )
    for machines in sizes {
        var options = FleetOptions(binary: binary)
        options.machines = machines
        options.duration = .seconds(seconds)
        let report = try await Fleet.run(options, repositoryRoot: root)
        let median = report.latency(percentile: 0.5).map(ms) ?? "-"
        let p99 = report.latency(percentile: 0.99).map(ms) ?? "-"
        let perVend = report.vends > 0 ? Double(report.apiRequests) / Double(report.vends) : 0
        let denied = report.denies.values.reduce(0, +)
        print(
            "  \(machines.padded(8))  \(report.vends.padded(5))  \(report.dispensed.padded(9))  "
                + "\((median + " / " + p99).padded(28))  \(String(format: "%13.1f", perVend))  "
                + "\((String(report.rateLimited.count) + " (" + String(report.rateLimited(after: 60)) + ")").padded(17))  "
                + "\(String(format: "%12.0f s", report.outOfServiceSeconds))  \(denied) \(report.denies)")
    }
}

private func ms(_ d: Duration) -> String {
    let total = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    return String(format: "%.0f ms", total)
}

extension CustomStringConvertible {
    fileprivate func padded(_ width: Int) -> String {
        let text = description
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
