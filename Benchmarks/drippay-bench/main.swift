// Benchmarks: `drippay-bench <area>`; each area's figures come from its own file.
let areas: [(name: String, run: () async throws -> Void)] = [
    ("api", { try await runAPIBenchmarks() }),
    ("config", { try await runConfigBenchmarks() }),
    ("controller", { try await runControllerBenchmarks() }),
    ("display", { try await runDisplayBenchmarks() }),
    ("paycodes", { try await runPayCodeBenchmarks() }),
    ("requote", { runRequoteBenchmarks() }),
    ("journal", { try await runJournalBenchmarks() }),
    ("latency", { try await runLatencyBenchmarks() }),
    ("session", { try await runSessionBenchmarks() }),
    ("daemon", { try await runDaemonBenchmarks() }),
]
// Not in `all` (a minute and more of real-time holds): run alone.
let separateAreas: [(name: String, run: () async throws -> Void)] = [
    ("board-cost", { try await runBoardCostBenchmarks() }),
    ("fleet", { try await runFleetBenchmarks() }),
]
let requested = CommandLine.arguments.dropFirst().first
if requested == "daemon-child", CommandLine.arguments.count > 2 {
    // The daemon benchmark's child process (see DaemonBench.swift).
    try await runDaemonChild(configFile: CommandLine.arguments[2])
} else if let area = (areas + separateAreas).first(where: { $0.name == requested }) {
    try await area.run()
} else if requested == nil || requested == "all" {
    for area in areas {
        print("== \(area.name)")
        try await area.run()
    }
} else {
    print("usage: drippay-bench [all | \((areas + separateAreas).map(\.name).joined(separator: " | "))]")
}
