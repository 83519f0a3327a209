// Benchmarks: `drippay-bench <area>`; each area lives in its own file.
let area = CommandLine.arguments.dropFirst().first ?? "all"
if area == "session" || area == "all" {
    try await runSessionBenchmarks()
}
