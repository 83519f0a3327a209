import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskConfig
import KioskCore
import KioskDaemon
import KioskDemo
import KioskTestSupport
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The daemon as a process:
///
/// 1. the real `drippay-kiosk run` binary (next to this one) against the sandbox and a simulated
///    controller: start-up time to `READY=1`, idle RSS, idle wake-ups (context switches of all
///    its threads over 10 s), shutdown time on SIGTERM;
/// 2. 10,000 paid vends through the daemon library in a child process of its own
///    (`drippay-bench daemon-child`), whose only difference from `run` is that the client-side
///    request budgets are off and the sandbox's limits are raised — FOR THE BENCHMARK ONLY
///    (at the API's 60 creates a minute, 10,000 vends would take 2.8 hours): RSS at 1k and 10k.
///
/// `DAEMON_BENCH_BINARIES="static=PATH dynamic=PATH ..."` runs part 1 for each of those binaries
/// instead, one after the other in this run, each line labelled (a label may repeat, to
/// alternate rounds; Benchmarks/static-vs-dynamic.sh compares the packaged static binary with a
/// dynamic one). `DAEMON_BENCH_VENDS=0` skips part 2.
func runDaemonBenchmarks() async throws {
    let environment = ProcessInfo.processInfo.environment
    if let list = environment["DAEMON_BENCH_BINARIES"] {
        for entry in list.split(separator: " ") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, FileManager.default.isExecutableFile(atPath: parts[1]) else {
                print("DAEMON_BENCH_BINARIES: '\(entry)' is not LABEL=PATH of an executable")
                exit(64)
            }
            try await benchRunBinary(parts[1], label: " (\(parts[0]))")
        }
    } else {
        if let binary = BuiltExecutable.kiosk() {
            try await benchRunBinary(binary, label: "")
        } else {
            let tried = BuiltExecutable.candidates("drippay-kiosk").joined(separator: ", ")
            print(
                "skipped the run-binary figures: drippay-kiosk not built (tried \(tried); swift build --product drippay-kiosk)"
            )
        }
    }
    let vends = Int(environment["DAEMON_BENCH_VENDS"] ?? "") ?? 10_000
    if vends > 0 { try await benchManyVends(vends: vends) }
}

/// `drippay-bench daemon-child CONFIG`: the daemon library with client budgets off (benchmark only).
func runDaemonChild(configFile: String) async throws {
    guard case .success(let configuration) = ConfigLoader.load(configFile: configFile, environment: [:]) else {
        print("daemon-child: cannot load \(configFile)")
        exit(78)
    }
    let token = try configuration.loadToken(environment: [:])
    let daemon = KioskDaemon(
        configuration: configuration, token: token,
        options: KioskDaemonOptions(environment: ProcessInfo.processInfo.environment, clientRateLimited: false))
    let group = ServiceGroup(
        configuration: ServiceGroupConfiguration(
            services: [daemon], gracefulShutdownSignals: [.sigterm], logger: .init(label: "bench-child")))
    try await group.run()
}

private struct Rig {
    let sandbox: APISandbox
    let simulator: ControllerSimulator
    let directory: String
    let configFile: String

    static func make(autoPay: Bool, raisedLimits: Bool) async throws -> Rig {
        let token = APISandbox.generateToken()
        let sandbox =
            raisedLimits
            ? APISandbox(
                tokens: [token: Set(Ability.allCases)], requestsPerMinute: 10_000_000,
                statusRequestsPerMinute: 10_000_000)
            : APISandbox(tokens: [token: Set(Ability.allCases)])
        let port = try await sandbox.start(port: 0)
        if autoPay { await sandbox.setAutoPay(after: .zero) }
        let simulator = try await ControllerSimulator.plugged(kind: .vmcLine)
        let directory = NSTemporaryDirectory() + "drippay-daemon-bench-\(UUID().uuidString.prefix(8))"
        let (configuration, _) = try KioskDemo.writeConfig(
            directory: directory, port: port, token: token, device: simulator.devicePath, paymentTimeout: 60,
            display: "none")
        return Rig(sandbox: sandbox, simulator: simulator, directory: directory, configFile: configuration.configFile)
    }

    func tearDown() async {
        await simulator.shutdown()
        await sandbox.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

private func benchRunBinary(_ binary: String, label: String) async throws {
    let rig = try await Rig.make(autoPay: false, raisedLimits: false)
    let notify = try NotifySocket(prefix: "bench-notify", receiveTimeout: .milliseconds(50))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["run", "--config", rig.configFile]
    var environment = ProcessInfo.processInfo.environment
    environment["NOTIFY_SOCKET"] = notify.path
    environment["DRIPPAY_KIOSK_LOG_LEVEL"] = "warning"
    process.environment = environment
    process.standardError = FileHandle.nullDevice
    let clock = ContinuousClock()
    let started = clock.now
    try process.run()
    guard waitFor("READY=1", on: notify, timeout: .seconds(15)) else {
        process.terminate()
        print("the daemon\(label) did not send READY=1 within 15 s")
        return
    }
    let ready = started.duration(to: clock.now)
    try await rig.simulator.waitForLine("READY", timeout: .seconds(5))
    print(
        "run binary\(label): start to READY=1                 \(ms(ready)) ms (spawn, config, journal, serial, /ping, recovery)"
    )
    try await Task.sleep(for: .seconds(1))
    let pid = process.processIdentifier
    let anon = statusField("/proc/\(pid)/status", "RssAnon:") ?? -1
    let file = statusField("/proc/\(pid)/status", "RssFile:") ?? -1
    print("run binary\(label): idle RSS                         \(rssKiB(pid) ?? -1) KiB (anon \(anon), file \(file))")
    let before = contextSwitches(pid)
    try await Task.sleep(for: .seconds(10))
    let after = contextSwitches(pid)
    let idle = switchesBetween(before, after)
    print(
        "run binary\(label): idle context switches in 10 s    \(idle.switches) over \(after.count) threads "
            + "(voluntary + involuntary; \(idle.started) threads started, \(idle.exited) exited: a lower bound)")
    let stopStart = clock.now
    process.terminate()  // SIGTERM
    process.waitUntilExit()
    print(
        "run binary\(label): SIGTERM to exit                  \(ms(stopStart.duration(to: clock.now))) ms, exit status \(process.terminationStatus)"
    )
    notify.close()
    await rig.tearDown()
}

private func benchManyVends(vends: Int) async throws {
    let rig = try await Rig.make(autoPay: true, raisedLimits: true)
    let process = Process()
    // DAEMON_BENCH_WRAPPER (e.g. "/usr/bin/heaptrack -o /tmp/child"): run the child under a
    // profiler. The figures are then the profiler's process, not the child's: use it to trace
    // allocations, not to measure RSS.
    let wrapper =
        ProcessInfo.processInfo.environment["DAEMON_BENCH_WRAPPER"]?.split(separator: " ").map(String.init) ?? []
    if let tool = wrapper.first {
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = Array(wrapper.dropFirst()) + [CommandLine.arguments[0], "daemon-child", rig.configFile]
    } else {
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["daemon-child", rig.configFile]
    }
    var environment = ProcessInfo.processInfo.environment
    environment["NOTIFY_SOCKET"] = nil
    process.environment = environment
    process.standardError = FileHandle.nullDevice
    try process.run()
    let pid = process.processIdentifier
    try await rig.simulator.waitForLine("READY", timeout: .seconds(15))
    try await Task.sleep(for: .seconds(1))
    print("daemon child: idle RSS                       \(rssKiB(pid) ?? -1) KiB")
    print(
        "daemon child: \(vends) paid vends, sandbox auto-pays at once; client budgets OFF, sandbox limits raised (benchmark only)"
    )
    let clock = ContinuousClock()
    let start = clock.now
    for n in 1...vends {
        try await rig.simulator.sendLine("VEND b\(n) 5 1.50")
        let line = "DISPENSE b\(n)"
        try await rig.simulator.waitForLine(line, timeout: .seconds(10))
        try await rig.simulator.sendLine("DISPENSED b\(n)")
        if n % 1_000 == 0 || n == vends {
            let elapsed = start.duration(to: clock.now)
            let rate = Double(n) / elapsed.inSeconds
            let anon = statusField("/proc/\(pid)/status", "RssAnon:") ?? -1
            let file = statusField("/proc/\(pid)/status", "RssFile:") ?? -1
            let journalKiB =
                ((try? FileManager.default.attributesOfItem(atPath: rig.directory + "/journal.sqlite")[.size] as? Int)
                    ?? 0) / 1024
            print(
                "daemon child: RSS after \(n) vends  \(rssKiB(pid) ?? -1) KiB (anon \(anon), file \(file); journal \(journalKiB) KiB; \(Int(rate)) vends/s)"
            )
        }
    }
    // DAEMON_BENCH_SETTLE=SECONDS: stay idle that long, then read the figures again (memory
    // held by timers of finished vends comes back once their deadlines have passed).
    if let settle = Int(ProcessInfo.processInfo.environment["DAEMON_BENCH_SETTLE"] ?? ""), settle > 0 {
        try await Task.sleep(for: .seconds(settle))
        let anon = statusField("/proc/\(pid)/status", "RssAnon:") ?? -1
        print("daemon child: RSS after \(settle) s idle      \(rssKiB(pid) ?? -1) KiB (anon \(anon))")
    }
    process.terminate()
    process.waitUntilExit()
    print("daemon child: exit status after SIGTERM      \(process.terminationStatus)")
    await rig.tearDown()
}

private func ms(_ d: Duration) -> String {
    String(format: "%.1f", d.inSeconds * 1000)
}

/// VmRSS of a process, KiB.
private func rssKiB(_ pid: Int32) -> Int? {
    statusField("/proc/\(pid)/status", "VmRSS:")
}

/// Voluntary + involuntary context switches of each thread of a process, by thread id.
private func contextSwitches(_ pid: Int32) -> [String: Int] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var result: [String: Int] = [:]
    for tid in tasks {
        let path = "/proc/\(pid)/task/\(tid)/status"
        result[tid] =
            (statusField(path, "voluntary_ctxt_switches:") ?? 0)
            + (statusField(path, "nonvoluntary_ctxt_switches:") ?? 0)
    }
    return result
}

/// Switches between two samples: threads present in both count their difference, new threads
/// all of theirs; threads that exited meanwhile are lost (so this is a lower bound).
private func switchesBetween(
    _ before: [String: Int], _ after: [String: Int]
) -> (switches: Int, started: Int, exited: Int) {
    var switches = 0
    for (tid, count) in after { switches += count - (before[tid] ?? 0) }
    return (switches, after.keys.filter { before[$0] == nil }.count, before.keys.filter { after[$0] == nil }.count)
}

private func statusField(_ path: String, _ key: String) -> Int? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(key) {
        return Int(line.dropFirst(key.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
    return nil
}

/// Waits on the spawned daemon's notify socket (blocking reads with a short timeout; the
/// benchmark has nothing else to do meanwhile) until a datagram holds `line`.
private func waitFor(_ line: String, on socket: NotifySocket, timeout: Duration) -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        guard let text = socket.receive() else { continue }
        if text.split(separator: "\n").contains(Substring(line)) { return true }
    }
    return false
}
