import DripPaySandbox
import Foundation
import KioskCore

#if canImport(Glibc)
import Glibc
#endif

/// What the daemon costs a small board, side by side in one run: `drippay-bench board-cost [HOLD_S]`.
///
/// The real daemon (`drippay-kiosk run`, built next to this executable; use the release build)
/// against the sandbox API in this process and a simulated controller on a pty, as in `latency`.
/// - Idle: CPU over 10 s with no session.
/// - Per display output (none, framebuffer file 480x320x32, png 480x320, terminal): a VEND is
///   accepted and its invoice held unpaid for HOLD_S seconds (default 16, at most 18); CPU of the daemon
///   (its threads' run time, `/proc/PID/task/*/schedstat`; utime+stime ticks when a thread ended
///   in the window) over the hold divided by the status requests the sandbox saw.
///   The pay screen's countdown ticks once a second, so the cost of one countdown frame is the
///   output's CPU per second over the hold minus that of `none`.
/// - Per vend: bytes the daemon caused to be written to storage (`write_bytes`, `/proc/PID/io`)
///   over 10 paid vends, and fsync+fdatasync (strace -f, when installed) over 20 paid vends.
/// - Reference: a plain keep-alive HTTP client (python3 `http.client`, one connection, the JSON
///   body decoded) polling the same invoice's status after the hold, 10 a second (the daemon's
///   status budget) for half the hold, with its own token; its own CPU (`time.process_time()`, ns) per request. The ratio daemon/reference is
///   the figure to compare across machines.
func runBoardCostBenchmarks() async throws {
    let arguments = CommandLine.arguments
    // The daemon's payment_timeout_s is 30 in the latency config: hold + half of it for the
    // reference client stay inside it.
    let hold = min(18, max(2, arguments.count > 2 ? Int(arguments[2]) ?? 16 : 16))
    let binary = try latencyDaemonBinary()
    let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    print("board-cost: \(binary), status_requests_per_minute = 600, invoice held unpaid \(hold) s per output")

    let outputs: [(name: String, table: (String) -> String)] = [
        ("none", { _ in "output = \"none\"" }),
        (
            "framebuffer",
            { dir in
                "output = \"framebuffer\"\ndevice = \"\(dir)/fb.raw\"\nwidth = 480\nheight = 320\nbits_per_pixel = 32"
            }
        ),
        ("png", { dir in "output = \"png\"\npng_path = \"\(dir)/screen.png\"" }),
        ("terminal", { _ in "output = \"terminal\"" }),
    ]
    var rows: [(name: String, perRequest: Double, perSecond: Double, requests: Int)] = []
    var idleCPU: Double?
    var bytesPerVend: Double?
    var reference: (perRequest: Double, requests: Int)?
    for output in outputs {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "drippay-board-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        if output.name == "framebuffer" {
            _ = FileManager.default.createFile(atPath: scratch + "/fb.raw", contents: Data(count: 480 * 320 * 4))
        }
        let run = try await LatencyRun.make(binary: binary, tracer: nil, display: output.table(scratch))
        do {
            let pid = run.daemonPID
            try await Task.sleep(for: .seconds(1))
            if output.name == "none" {
                let before = try cpuSeconds(pid: pid, ticksPerSecond: ticksPerSecond)
                try await Task.sleep(for: .seconds(10))
                idleCPU = try cpuSeconds(pid: pid, ticksPerSecond: ticksPerSecond) - before
            }
            let id = "h\(UUID().uuidString.prefix(8))"
            try await run.simulator.vend(id: id, product: "5", price: "1.50")
            guard let (answer, _) = await run.lines.take(timeout: .seconds(30), { $0.hasSuffix(" \(id)") }),
                answer == "ACCEPT \(id)"
            else {
                throw LatencyBenchError(description: "VEND \(id) was not accepted; see \(run.directory)/daemon.stderr")
            }
            guard let invoice = await run.sandbox.invoices().last(where: { $0.status == .pending }) else {
                throw LatencyBenchError(description: "no pending invoice after ACCEPT \(id)")
            }
            // The first frame (QR drawn) is not part of the steady cost.
            try await Task.sleep(for: .seconds(1))
            let statusPath = "/invoices/\(invoice.reference)/status"
            func statusRequests() async -> Int {
                await run.sandbox.requests().filter { $0.path.hasSuffix(statusPath) }.count
            }
            let requests0 = await statusRequests()
            let sample0 = try ThreadCPU.sample(pid: pid)
            let cpu0 = try cpuSeconds(pid: pid, ticksPerSecond: ticksPerSecond)
            let start = ContinuousClock.now
            try await Task.sleep(for: .seconds(hold))
            let ticked = try cpuSeconds(pid: pid, ticksPerSecond: ticksPerSecond) - cpu0
            let measured = ThreadCPU.seconds(from: sample0, to: try ThreadCPU.sample(pid: pid))
            // The threads' own run times (ns) unless a thread ended in the window (its time is
            // then only in the 10 ms ticks, which keep what ended threads ran).
            let cpu1 = cpu0 + (ticked > measured + 0.02 ? ticked : measured)
            let elapsed = ContinuousClock.now - start
            let requests = await statusRequests() - requests0
            let seconds = elapsed.inSeconds
            rows.append((output.name, (cpu1 - cpu0) / Double(max(1, requests)), (cpu1 - cpu0) / seconds, requests))
            if output.name == "none" {
                // The reference client, after the hold (so the sandbox's count above is the
                // daemon's alone), on the same invoice with its own token (its own rate window),
                // 10 a second (the daemon's status budget) for half the hold: the invoice's 30 s
                // must not run out before it is paid.
                let token = APISandbox.generateToken()
                await run.sandbox.setToken(token, abilities: Set(Ability.allCases))
                let url = await run.sandbox.baseURL + "/invoices/\(invoice.reference)/status"
                reference = try await referencePoll(url: url, token: token, requests: hold * 5, interval: 0.1)
            }
            guard await run.sandbox.pay(InvoiceReference(invoice.reference)) else {
                throw LatencyBenchError(description: "could not pay \(invoice.reference)")
            }
            guard await run.lines.take(timeout: .seconds(10), { $0 == "DISPENSE \(id)" }) != nil else {
                throw LatencyBenchError(description: "no DISPENSE \(id) within 10 s of payment")
            }
            try await run.simulator.dispensed(id: id)
            if output.name == "none" {
                try await Task.sleep(for: .milliseconds(500))
                let written0 = try writeBytes(pid: pid)
                _ = try await run.measure(vends: 10)
                try await Task.sleep(for: .milliseconds(500))
                bytesPerVend = Double(try writeBytes(pid: pid) - written0) / 10
            }
            try await run.stop()
        } catch {
            await run.tearDown()
            throw error
        }
        await run.tearDown()
    }

    let none = rows.first { $0.name == "none" }
    print("")
    print(pad("figure", 44) + "value")
    if let idleCPU { print(pad("idle CPU over 10 s (no session)", 44) + "\(f(idleCPU * 1000, 1)) ms") }
    for row in rows {
        print(
            pad("CPU per status request, output \(row.name)", 44)
                + "\(f(row.perRequest * 1000, 3)) ms (\(row.requests) requests)")
    }
    if let reference {
        print(
            pad("reference: python3 http.client keep-alive", 44)
                + "\(f(reference.perRequest * 1000, 3)) ms (\(reference.requests) requests)")
        if let none, reference.perRequest > 0 {
            print(
                pad("ratio daemon (none) / reference", 44)
                    + "\(f(none.perRequest / reference.perRequest, 2))x (target <= 0.6x, issue 25)")
        }
    }
    if let none {
        for row in rows where row.name != "none" {
            // One countdown frame a second: the output's extra CPU per second is its cost per frame.
            print(
                pad("CPU per pay-screen frame, \(row.name)", 44) + "\(f((row.perSecond - none.perSecond) * 1000, 2)) ms"
            )
        }
    }
    if let bytesPerVend {
        print(pad("bytes written to storage per vend", 44) + "\(Int(bytesPerVend)) (write_bytes, /proc/PID/io)")
    }
    if let syncs = try await measureSyncsPerVend(binary: binary, vends: 20) {
        print(
            pad("fsync+fdatasync per vend (strace -f)", 44)
                + "\(f(syncs.perVend, 2)) (20 vends: \(syncs.busy.detail); start+stop: \(syncs.idle.detail))")
    } else {
        print(pad("fsync+fdatasync per vend", 44) + "not measured: strace is not installed (scripts/deps)")
    }
}

/// utime+stime of a process (all its threads, live and ended) in seconds.
private func cpuSeconds(pid: Int32, ticksPerSecond: Double) throws -> Double {
    let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    guard let close = text.lastIndex(of: ")") else {
        throw LatencyBenchError(description: "/proc/\(pid)/stat unreadable")
    }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
        throw LatencyBenchError(description: "/proc/\(pid)/stat has no utime/stime")
    }
    return (user + system) / ticksPerSecond
}

/// CPU time per thread in nanoseconds (`/proc/PID/task/TID/schedstat`, first field): the
/// precise figure, where utime+stime come in 10 ms ticks (8 ticks for a 16 s hold at 8 polls a
/// second). A thread that ends between two samples is missed: the caller compares with the ticks.
enum ThreadCPU {
    static func sample(pid: Int32) throws -> [Int: UInt64] {
        var threads: [Int: UInt64] = [:]
        for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
            guard let tid = Int(task),
                let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/schedstat", encoding: .utf8),
                let ran = text.split(separator: " ").first.flatMap({ UInt64($0) })
            else { continue }
            threads[tid] = ran
        }
        return threads
    }

    static func seconds(from before: [Int: UInt64], to after: [Int: UInt64]) -> Double {
        let ns = after.reduce(UInt64(0)) { sum, thread in sum + (thread.value &- (before[thread.key] ?? 0)) }
        return Double(ns) / 1e9
    }
}

/// Bytes the process caused to be sent to the storage layer (`write_bytes`).
private func writeBytes(pid: Int32) throws -> Int {
    let text = try String(contentsOfFile: "/proc/\(pid)/io", encoding: .utf8)
    for line in text.split(separator: "\n") where line.hasPrefix("write_bytes:") {
        if let value = Int(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces)) { return value }
    }
    throw LatencyBenchError(description: "/proc/\(pid)/io has no write_bytes")
}

/// The reference client: python3's http.client on one keep-alive connection, `requests` GETs of
/// the status URL `interval` seconds apart, each body decoded as JSON; its CPU per request.
private func referencePoll(
    url: String, token: String, requests: Int, interval: Double
) async throws
    -> (perRequest: Double, requests: Int)?
{
    guard
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0)
        })
    else { return nil }
    let script = """
        import http.client, json, os, sys, time, urllib.parse
        u = urllib.parse.urlsplit(sys.argv[1]); n = int(sys.argv[2]); gap = float(sys.argv[3])
        headers = {"Authorization": "Bearer " + os.environ["DRIPPAY_BENCH_TOKEN"], "Accept": "application/json"}
        conn = http.client.HTTPConnection(u.hostname, u.port)
        t0 = time.process_time()
        for _ in range(n):
            conn.request("GET", u.path, headers=headers)
            r = conn.getresponse()
            json.loads(r.read())
            time.sleep(gap)
        print(time.process_time() - t0)
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = ["-c", script, url, String(requests), String(interval)]
    var environment = ProcessInfo.processInfo.environment
    environment["DRIPPAY_BENCH_TOKEN"] = token
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    let (ended, sink) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    process.terminationHandler = { _ in
        sink.yield()
        sink.finish()
    }
    try process.run()
    for await _ in ended { break }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard process.terminationStatus == 0, let cpu = Double(output.trimmingCharacters(in: .whitespacesAndNewlines))
    else {
        throw LatencyBenchError(
            description: "the reference poll loop failed (exit \(process.terminationStatus)): \(output)")
    }
    return (cpu / Double(max(1, requests)), requests)
}

private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

private func f(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
