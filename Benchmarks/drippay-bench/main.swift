// Benchmarks: `drippay-bench [area]` runs one area's benchmarks, or all without an argument.
let area = CommandLine.arguments.dropFirst().first
if area == nil || area == "config" { try await runConfigBenchmarks() }
