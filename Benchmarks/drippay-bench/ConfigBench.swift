import Foundation
import KioskConfig
import KioskCore

/// How long parsing and loading a config takes (it happens once at start-up and on every
/// `check-config`, so this guards against an accidental quadratic parser).
func runConfigBenchmarks() async throws {
    let profiles = findHardwareProfiles()
    let example = (profiles as NSString).deletingLastPathComponent + "/examples/kiosk.toml"
    let text = try String(contentsOfFile: example, encoding: .utf8)
    let clock = ContinuousClock()

    // A long planogram: 2,000 items, the size of a large machine's price list times ten.
    var big = text
    big += "\n[metrics.extra]\n"  // not loaded, only parsed
    for i in 0..<2000 { big += "\"p\(i)\" = \"Product number \(i)\"\n" }

    for (name, input, rounds) in [("example kiosk.toml", text, 2000), ("2,000-item table", big, 50)] {
        var lines = 0
        let elapsed = clock.measure {
            for _ in 0..<rounds {
                if case .success(let root) = TOMLParser.parse(input) { lines += root.keys.count }
            }
        }
        let perParse = elapsed / rounds
        print(
            "config: TOML parse \(name) (\(input.utf8.count) bytes): \(format(perParse)) per parse (\(rounds) rounds)")
        _ = lines
    }

    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("drippay-bench-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "1|benchtoken".write(toFile: dir + "/drippay-token", atomically: true, encoding: .utf8)
    let rounds = 500
    var loaded = 0
    let elapsed = clock.measure {
        for _ in 0..<rounds {
            if case .success = ConfigLoader.load(
                configFile: example, environment: ["CREDENTIALS_DIRECTORY": dir], profileSearchPaths: [profiles])
            {
                loaded += 1
            }
        }
    }
    print(
        "config: ConfigLoader.load examples/kiosk.toml + profile: \(format(elapsed / rounds)) per load (\(loaded)/\(rounds) valid)"
    )
}

private func findHardwareProfiles() -> String {
    var dir = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    for _ in 0..<8 {
        let candidate = dir.appendingPathComponent("hardware-profiles").path
        if FileManager.default.fileExists(atPath: candidate) { return candidate }
        dir.deleteLastPathComponent()
    }
    return "hardware-profiles"
}

private func format(_ d: Duration) -> String {
    let micros = d.inSeconds * 1e6
    return String(format: "%.1f µs", micros)
}
