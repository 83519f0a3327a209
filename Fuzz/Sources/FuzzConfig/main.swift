import Foundation
import KioskConfig

// libFuzzer calls this with each input (built with -sanitize=fuzzer,address -parse-as-library;
// libFuzzer supplies main). The input is a config file: first parsed as TOML on its own, then
// loaded as a whole config (with the simulator profile reachable) so every key check runs.
// Problems are expected; a crash, a hang or a sanitizer report is a finding.

private let workDirectory: String = {
    let path = NSTemporaryDirectory() + "drippay-fuzz-config-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path + "/hardware-profiles", withIntermediateDirectories: true)
    let profile = """
        [serial]
        device = "/dev/null"
        baud = 115200
        [controller]
        protocol = "vmc-line"
        [display]
        output = "none"
        """
    try? profile.write(toFile: path + "/hardware-profiles/fuzz.toml", atomically: true, encoding: .utf8)
    return path
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let text = String(decoding: bytes, as: UTF8.self)
    if case .success(let table) = TOMLParser.parse(text) {
        _ = table.keys.count
    }
    let file = workDirectory + "/kiosk.toml"
    guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else { return 0 }
    switch ConfigLoader.load(
        configFile: file, environment: [:], profileSearchPaths: [workDirectory + "/hardware-profiles"])
    {
    case .success(let configuration): _ = configuration.summary
    case .failure(let problems):
        // Every problem names a file and a line: a technician must be able to find it.
        for problem in problems.problems where problem.line < 1 { fatalError("problem without a line: \(problem)") }
    }
    return 0
}
