// Benchmarks: `drippay-bench <area>` runs one area; no argument runs all that exist.
let area = CommandLine.arguments.dropFirst().first
switch area {
case "display", nil:
    try await runDisplayBenchmarks()
default:
    print("unknown benchmark area '\(area!)'; known: display")
}
