// Benchmarks: `drippay-bench <area>`; each area's file prints its figures.
let area = CommandLine.arguments.dropFirst().first ?? "all"
switch area {
case "api", "all":
    try await runAPIBenchmarks()
default:
    print("unknown benchmark area '\(area)'; known: api")
}
