// Benchmarks: `drippay-bench <area>`; each area's figures come from its own file.
switch CommandLine.arguments.dropFirst().first {
case "journal":
    try await runJournalBenchmarks()
default:
    print("usage: drippay-bench <area>   areas: journal")
}
