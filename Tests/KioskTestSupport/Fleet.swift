import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskCore

#if canImport(Glibc)
import Glibc
#endif

/// How a fleet run goes: N machines on one sandbox and one token, each a real `drippay-kiosk run`
/// process with its own pty controller, journal and machine_id; customers at every machine.
public struct FleetOptions: Sendable {
    public var machines = 8
    public var duration: Duration = .seconds(120)
    /// A customer pays this long (ms) after the QR appears (`ACCEPT`).
    public var payDelayMs: ClosedRange<Int> = 1_000...6_000
    /// The next customer comes this long (ms) after the last vend ended.
    public var thinkMs: ClosedRange<Int> = 8_000...20_000
    /// The API goes down `start` into the run, for `length`.
    public var outage: (start: Duration, length: Duration)?
    public var seed: UInt64 = 0xF1EE7
    public var binary: String
    public var paymentTimeoutSeconds = 60
    public var requestTimeoutSeconds = 5
    /// The sandbox's limits per token (the API's: 60 and 600 a minute).
    public var requestsPerMinute = 60
    public var statusRequestsPerMinute = 600

    public init(binary: String) { self.binary = binary }
}

/// What a fleet run saw, from the customers' side and the sandbox's.
public struct FleetReport: Sendable {
    public var machines = 0
    public var duration: Duration = .zero
    /// Customers who asked (`VEND`), were shown a QR (`ACCEPT`), paid, got the product (`DISPENSE`).
    public var vends = 0
    public var accepted = 0
    public var paid = 0
    public var dispensed = 0
    /// Paid, but the machine said `DENY` (the daemon journals it refund due).
    public var paidButDenied = 0
    /// `DENY` reasons before a QR, counted, and when each came (seconds into the run).
    public var denies: [String: Int] = [:]
    public var denyTimes: [Double] = []
    /// One dispensed vend: when it was paid (seconds into the run) and how long it took from the
    /// sandbox's payment to `DISPENSE` on the serial line.
    public struct Payment: Sendable {
        public var at: Double
        public var toDispense: Duration
    }
    public var payments: [Payment] = []
    /// Every API request the sandbox saw, with its status and time.
    public var requests: [SandboxRequestRecord] = []
    public var started = Date()
    /// Seconds machines spent out of service (`OUT-OF-SERVICE` until `READY`), summed.
    public var outOfServiceSeconds: Double = 0
    /// Lines that said why a vend was denied or a machine went out of service, for failure messages.
    public var notes: [String] = []

    public var rateLimited: [SandboxRequestRecord] { requests.filter { $0.status == 429 } }
    public func rateLimited(after seconds: Double) -> Int {
        rateLimited.filter { $0.at.timeIntervalSince(started) > seconds }.count
    }
    public var pings: Int { requests.filter { $0.path.hasSuffix("/ping") }.count }
    public var apiRequests: Int { requests.filter { $0.path.hasPrefix("/api/") }.count }

    /// The p-th percentile (0...1) of paid -> DISPENSE, nearest rank, over the payments made
    /// outside `excluding` (seconds into the run: an outage, when nothing can be seen).
    public func latency(percentile p: Double, excluding: ClosedRange<Double>? = nil) -> Duration? {
        let counted = payments.filter { excluding?.contains($0.at) != true }.map(\.toDispense)
        guard !counted.isEmpty else { return nil }
        let sorted = counted.sorted()
        let rank = min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[rank]
    }
}

/// Runs a fleet: starts the sandbox, N controllers and N daemons, drives customers until the
/// duration is over, stops every daemon with SIGTERM and returns the report. Cleans up after itself.
public enum Fleet {
    public static func run(_ options: FleetOptions, repositoryRoot: String) async throws -> FleetReport {
        let token = APISandbox.generateToken()
        let sandbox = APISandbox(
            tokens: [token: Set(Ability.allCases)], requestsPerMinute: options.requestsPerMinute,
            statusRequestsPerMinute: options.statusRequestsPerMinute)
        try await sandbox.start(port: 0)
        let base = await sandbox.baseURL
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("drippay-fleet-\(getpid())").path
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        var machines: [FleetMachine] = []
        do {
            for index in 0..<options.machines {
                machines.append(
                    try await FleetMachine.make(
                        index: index, root: root, token: token, baseURL: base, options: options,
                        repositoryRoot: repositoryRoot))
            }
        } catch {
            for machine in machines { await machine.stop() }
            await sandbox.stop()
            throw error
        }
        var report = FleetReport()
        report.machines = options.machines
        report.started = Date()
        let end = ContinuousClock.now + options.duration
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: FleetMachine.Tally.self) { group in
            for (index, machine) in machines.enumerated() {
                group.addTask {
                    await machine.serveCustomers(
                        until: end, sandbox: sandbox, seed: options.seed &+ UInt64(index) &* 0x9E37_79B9)
                }
            }
            if let outage = options.outage {
                group.addTask {
                    try? await Task.sleep(until: started + outage.start)
                    await sandbox.goDown()
                    try? await Task.sleep(until: started + outage.start + outage.length)
                    try? await sandbox.comeUp()
                    return FleetMachine.Tally()
                }
            }
            var all: [FleetMachine.Tally] = []
            for await tally in group { all.append(tally) }
            return all
        }
        report.duration = ContinuousClock.now - started
        for machine in machines { await machine.stop() }
        for tally in results {
            report.vends += tally.vends
            report.accepted += tally.accepted
            report.paid += tally.paid
            report.dispensed += tally.dispensed
            report.paidButDenied += tally.paidButDenied
            report.payments += tally.payments.map {
                FleetReport.Payment(at: ($0.at - started).inSeconds, toDispense: $0.toDispense)
            }
            report.outOfServiceSeconds += tally.outOfServiceSeconds
            report.notes += tally.notes
            report.denyTimes += tally.denyTimes.map { ($0 - started).inSeconds }
            for (reason, count) in tally.denies { report.denies[reason, default: 0] += count }
        }
        report.requests = await sandbox.requests()
        await sandbox.stop()
        try? FileManager.default.removeItem(atPath: root)
        return report
    }
}

/// One machine of the fleet: its controller (vmc-line on a pty), its config and journal, its daemon.
actor FleetMachine {
    let index: Int
    let machineID: String
    let simulator: ControllerSimulator
    let process: Process
    let options: FleetOptions
    private var outOfServiceSince: ContinuousClock.Instant?

    struct Tally: Sendable {
        var vends = 0
        var accepted = 0
        var paid = 0
        var dispensed = 0
        var paidButDenied = 0
        var denies: [String: Int] = [:]
        var denyTimes: [ContinuousClock.Instant] = []
        var payments: [(at: ContinuousClock.Instant, toDispense: Duration)] = []
        var outOfServiceSeconds: Double = 0
        var notes: [String] = []
    }

    private init(index: Int, simulator: ControllerSimulator, process: Process, options: FleetOptions) {
        self.index = index
        machineID = "FLEET-\(index + 1)"
        self.simulator = simulator
        self.process = process
        self.options = options
    }

    static func make(
        index: Int, root: String, token: String, baseURL: String, options: FleetOptions, repositoryRoot: String
    ) async throws -> FleetMachine {
        let directory = root + "/machine-\(index + 1)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let simulator = try ControllerSimulator(kind: .vmcLine)
        try await simulator.plug()
        let tokenPath = directory + "/token"
        guard
            FileManager.default.createFile(
                atPath: tokenPath, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw FleetError("cannot write \(tokenPath)") }
        let config = """
            machine_id = "FLEET-\(index + 1)"
            profile = "\(repositoryRoot)/hardware-profiles/simulator.toml"
            currency = "USD"

            [api]
            base_url = "\(baseURL)"
            token_file = "\(tokenPath)"
            request_timeout_s = \(options.requestTimeoutSeconds)

            [serial]
            device = "\(simulator.devicePath)"

            [vend]
            payment_timeout_s = \(options.paymentTimeoutSeconds)
            resume_grace_s = 5
            late_payment_watch_s = 0

            [vend.items]
            "5" = "Soda"

            [display]
            output = "none"

            [qr]
            source = "template"
            payload = "https://pay.example.com/i/{reference}"

            [journal]
            path = "\(directory)/journal.sqlite"

            [metrics]
            textfile = "\(directory)/metrics.prom"

            """
        try config.write(toFile: directory + "/kiosk.toml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.binary)
        process.arguments = ["run", "--config", directory + "/kiosk.toml"]
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "DRIPPAY_KIOSK_CONFIG"] {
            environment[key] = nil
        }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: directory + "/daemon.stderr", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory + "/daemon.stderr")
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return FleetMachine(index: index, simulator: simulator, process: process, options: options)
    }

    /// Customers, one after another, until `end`: VEND, wait for the QR (ACCEPT), pay at the
    /// sandbox after a while, wait for DISPENSE, report DISPENSED.
    func serveCustomers(until end: ContinuousClock.Instant, sandbox: APISandbox, seed: UInt64) async -> Tally {
        var tally = Tally()
        var random = SplitMix64(seed: seed)
        func between(_ range: ClosedRange<Int>) -> Duration {
            .milliseconds(range.lowerBound + Int(random.next() % UInt64(range.count)))
        }
        // The link is up when the daemon answers PING; it says READY once in service.
        let linkUp = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < linkUp {
            try? await simulator.ping()
            if (try? await simulator.waitForLine("PONG", timeout: .milliseconds(300))) != nil { break }
        }
        let watch = Task { await self.watchService() }
        defer { watch.cancel() }
        var number = 0
        while ContinuousClock.now + .seconds(2) < end {
            try? await Task.sleep(for: between(options.thinkMs))
            guard ContinuousClock.now + .seconds(2) < end else { break }
            number += 1
            let id = "F\(index + 1)-\(number)"
            tally.vends += 1
            guard (try? await simulator.vend(id: id, product: "5", price: "1.50")) != nil,
                let answer = try? await simulator.waitForLine(
                    matching: "ACCEPT/DENY \(id)", timeout: .seconds(30),
                    {
                        $0 == "ACCEPT \(id)" || $0.hasPrefix("DENY \(id) ")
                    })
            else {
                tally.denies["no answer", default: 0] += 1
                tally.denyTimes.append(.now)
                continue
            }
            if answer.hasPrefix("DENY") {
                let reason = String(answer.dropFirst("DENY \(id) ".count))
                tally.denies[reason, default: 0] += 1
                tally.denyTimes.append(.now)
                tally.notes.append("\(machineID) \(answer)")
                continue
            }
            tally.accepted += 1
            try? await Task.sleep(for: between(options.payDelayMs))
            guard
                let invoice = await sandbox.invoices().last(where: {
                    $0.machineID == machineID && $0.status == .pending
                })
            else {
                _ = try? await simulator.waitForLine(matching: "end of \(id)", timeout: .seconds(120)) {
                    $0 == "DISPENSE \(id)" || $0.hasPrefix("DENY \(id) ")
                }
                continue
            }
            let reference = InvoiceReference(invoice.reference)
            guard await sandbox.pay(reference) else { continue }
            let paidAt = ContinuousClock.now
            tally.paid += 1
            let outcome = try? await simulator.waitForLine(
                matching: "DISPENSE/DENY \(id)", timeout: .seconds(options.paymentTimeoutSeconds + 60)
            ) { $0 == "DISPENSE \(id)" || $0.hasPrefix("DENY \(id) ") }
            if outcome == "DISPENSE \(id)" {
                tally.payments.append((paidAt, ContinuousClock.now - paidAt))
                tally.dispensed += 1
                try? await simulator.dispensed(id: id)
            } else {
                tally.paidButDenied += 1
                tally.notes.append("\(machineID) paid \(id) but got \(outcome ?? "nothing")")
            }
        }
        watch.cancel()
        if let since = outOfServiceSince { tally.outOfServiceSeconds += (ContinuousClock.now - since).inSeconds }
        tally.outOfServiceSeconds += outOfService
        return tally
    }

    private var outOfService: Double = 0

    /// Follows READY / OUT-OF-SERVICE, summing the time out of service.
    private func watchService() async {
        while !Task.isCancelled {
            guard
                let line = try? await simulator.waitForLine(
                    matching: "READY/OUT-OF-SERVICE", timeout: .seconds(3600),
                    {
                        $0 == "READY" || $0.hasPrefix("OUT-OF-SERVICE")
                    })
            else { return }
            if line == "READY" {
                if let since = outOfServiceSince { outOfService += (ContinuousClock.now - since).inSeconds }
                outOfServiceSince = nil
            } else if outOfServiceSince == nil {
                outOfServiceSince = ContinuousClock.now
            }
        }
    }

    /// SIGTERM, then SIGKILL if it has not ended within 15 s; the controller goes too.
    func stop() async {
        if process.isRunning {
            process.terminate()
            let deadline = ContinuousClock.now + .seconds(15)
            while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        await simulator.shutdown()
    }
}

public struct FleetError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
