// Benchmarks: `drippay-bench <area>`; each area's figures are printed by its own file.
let area = CommandLine.arguments.dropFirst().first ?? "all"
switch area {
case "controller", "all":
    try await runControllerBenchmarks()
default:
    print("unknown area '\(area)'; areas: controller")
}
