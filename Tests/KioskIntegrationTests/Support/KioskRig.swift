import ControllerSimulator
import DripPaySandbox
import Foundation
import KioskCore
import KioskJournal

#if canImport(Glibc)
import Glibc
#endif

/// Settings of one rig: what goes into the daemon's config and how the sandbox behaves.
struct RigOptions: Sendable {
    var machineID = "ITEST-01"
    var paymentTimeoutSeconds = 3
    var resumeGraceSeconds = 2
    /// `[vend] late_payment_watch_s`: 0 (the session ends at the 404 after its cancel) unless a
    /// test watches for a late payment; production's default is 10.
    var latePaymentWatchSeconds = 0
    var requestTimeoutSeconds = 2
    var statusRequestsPerMinute = 600
    var requestsPerMinute = 60
    /// The sandbox's throttle window (60 s on the real API). The crash test shortens it: the
    /// daemon's own budget starts afresh at each of its hundreds of restarts.
    var sandboxThrottleWindow: Duration = .seconds(60)
    var items: [(code: String, description: String)] = [("5", "Soda"), ("7", "Water")]
    /// `.qibixxMDB`: the simulator acts as a Qibixx adapter and the config says `qibixx-mdb`.
    var controller: ControllerProtocolKind = .vmcLine
    /// The `[qr]` table's body.
    var qrTable = #"payload = "https://pay.example.com/i/{reference}""#
    /// Draw every screen into `screen.png` in the rig's directory (else no display).
    var pngDisplay = false
    /// The sandbox issues a new Lightning quote this often.
    var quoteSeconds = 30
}

/// Everything one integration test needs: a temp directory, the DripPay sandbox (in process, real
/// HTTP on 127.0.0.1, port 0), a simulated vmc-line controller on a pty, a config file that wires
/// them together, and the real `drippay-kiosk run` binary as a child process that the test can
/// stop (SIGTERM), kill (SIGKILL) and restart on the same journal.
///
/// Use it through `withKioskRig`, which always kills the daemon and removes everything.
actor KioskRig {
    nonisolated let directory: String
    nonisolated let options: RigOptions
    nonisolated let sandbox: APISandbox
    nonisolated let simulator: ControllerSimulator
    nonisolated let lines = LineLog()
    nonisolated let configPath: String
    nonisolated let journalPath: String
    nonisolated let tokenPath: String
    nonisolated let baseURL: String
    /// Where the png display writes the screen (with `pngDisplay`).
    nonisolated var screenPath: String { directory + "/screen.png" }
    private(set) var daemon: DaemonProcess?
    /// How many daemon processes were started (names their log files).
    private(set) var lifetimes = 0
    /// The stderr of every lifetime, for failure messages.
    private var stderrPaths: [String] = []

    static let allAbilities: Set<Ability> = Set(Ability.allCases)

    private init(
        directory: String, options: RigOptions, sandbox: APISandbox, simulator: ControllerSimulator, baseURL: String
    ) {
        self.directory = directory
        self.options = options
        self.sandbox = sandbox
        self.simulator = simulator
        self.baseURL = baseURL
        configPath = directory + "/kiosk.toml"
        journalPath = directory + "/journal.sqlite"
        tokenPath = directory + "/token"
    }

    /// Creates the temp dir, starts the sandbox and the simulator, writes the token and config.
    static func make(_ options: RigOptions = RigOptions()) async throws -> KioskRig {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("drippay-itest-\(UUID().uuidString.prefix(12))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let token = APISandbox.generateToken()
        let sandbox = APISandbox(
            tokens: [token: allAbilities], requestsPerMinute: 60, statusRequestsPerMinute: 600,
            throttleWindow: options.sandboxThrottleWindow, quoteSeconds: options.quoteSeconds)
        let simulator: ControllerSimulator
        do {
            try await sandbox.start(port: 0)
            simulator = try ControllerSimulator(kind: options.controller)
            if options.controller == .qibixxMDB { await simulator.actAsAdapter(QibixxAdapterModel()) }
            try await simulator.plug()
        } catch {
            await sandbox.stop()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let rig = KioskRig(
            directory: directory, options: options, sandbox: sandbox, simulator: simulator,
            baseURL: await sandbox.baseURL)
        await rig.lines.attach(to: simulator)
        guard
            FileManager.default.createFile(
                atPath: rig.tokenPath, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw RigError.setup("cannot write the token file \(rig.tokenPath)") }
        try rig.configText().write(toFile: rig.configPath, atomically: true, encoding: .utf8)
        return rig
    }

    /// The daemon's config, as a technician would write it for this machine.
    nonisolated func configText() -> String {
        let items = options.items.map { "\"\($0.code)\" = \"\($0.description)\"" }.joined(separator: "\n")
        return """
            machine_id = "\(options.machineID)"
            profile = "\(RepoPaths.simulatorProfile)"
            currency = "USD"

            [api]
            base_url = "\(baseURL)"
            token_file = "\(tokenPath)"
            request_timeout_s = \(options.requestTimeoutSeconds)
            status_requests_per_minute = \(options.statusRequestsPerMinute)
            requests_per_minute = \(options.requestsPerMinute)

            [serial]
            device = "\(simulator.devicePath)"
            \(options.controller == .qibixxMDB ? "\n[controller]\nprotocol = \"qibixx-mdb\"\n" : "")

            [vend]
            payment_timeout_s = \(options.paymentTimeoutSeconds)
            resume_grace_s = \(options.resumeGraceSeconds)
            late_payment_watch_s = \(options.latePaymentWatchSeconds)

            [vend.items]
            \(items)

            [display]
            \(options.pngDisplay ? "output = \"png\"\npng_path = \"\(screenPath)\"" : #"output = "none""#)

            [qr]
            \(options.qrTable)

            [journal]
            path = "\(journalPath)"

            [metrics]
            textfile = "\(directory)/metrics.prom"

            """
    }

    /// The environment for child processes: no systemd sockets or credentials of the test runner.
    static func childEnvironment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY", "DRIPPAY_KIOSK_CONFIG"] {
            environment[key] = nil
        }
        return environment
    }

    // MARK: The daemon

    /// Spawns `drippay-kiosk run --config FILE`. The previous process must have ended.
    func startDaemon() throws {
        precondition(daemon == nil, "the daemon is already running")
        lifetimes += 1
        let child = try DaemonProcess(
            executable: try KioskBinary.path(), arguments: ["run", "--config", configPath], directory: directory,
            logPrefix: directory + "/daemon-\(lifetimes)", environment: Self.childEnvironment())
        stderrPaths.append(child.stderrPath)
        daemon = child
    }

    /// Starts the daemon and waits until it answers on the serial line (PING -> PONG), which it
    /// does once it has opened the device, and then until it tells the controller `READY` (after
    /// its API check and recovery). PING changes no session, unlike HELLO.
    func startDaemonAndWaitUntilReady(timeout: Duration = .seconds(20)) async throws {
        let from = await lines.count
        try startDaemon()
        try await waitForLink(timeout: timeout)
        try await waitForReady(from: from, timeout: timeout)
    }

    /// Waits for `READY` at or after line `from` (the daemon announces it unprompted once in service).
    func waitForReady(from: Int, timeout: Duration = .seconds(20)) async throws {
        _ = try await lines.first(from: from, matching: "READY", timeout: timeout) { $0 == "READY" }
    }

    /// Sends `PING` every 250 ms until a `PONG` arrives: bytes written before the daemon opened the
    /// pty may be discarded when it opens, so one PING is not enough.
    /// Returns the index of that PONG: every later line was written by this daemon process.
    @discardableResult
    func waitForLink(timeout: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        let from = await lines.count
        while ContinuousClock.now < deadline {
            if let daemon, await daemon.hasExited {
                throw RigError.setup(
                    "the daemon exited before answering PING: \(await daemon.waitForExit(timeout: .zero).map(\.description) ?? "?")"
                )
            }
            try await simulator.ping()
            if let pong = try? await lines.first(
                from: from, matching: "PONG", timeout: .milliseconds(250), { $0 == "PONG" })
            {
                return pong.index
            }
        }
        throw RigError.timedOut("the daemon to answer PING with PONG", after: timeout)
    }

    /// Sends `HELLO` (the controller starting) and returns the kiosk's answer: `READY` or `OUT-OF-SERVICE ...`.
    func hello(timeout: Duration = .seconds(10)) async throws -> String {
        let from = await lines.count
        try await simulator.hello()
        return try await lines.first(from: from, matching: "READY or OUT-OF-SERVICE", timeout: timeout) {
            $0 == "READY" || $0.hasPrefix("OUT-OF-SERVICE")
        }.line
    }

    /// SIGTERM and wait for the exit (the contract: exit 0 after a clean drain).
    @discardableResult
    func stopDaemon(timeout: Duration = .seconds(15)) async throws -> ProcessEnding {
        guard let daemon else { throw RigError.setup("stopDaemon: no daemon running") }
        await daemon.send(SIGTERM)
        guard let ending = await daemon.waitForExit(timeout: timeout) else {
            await daemon.killAndWait()
            self.daemon = nil
            throw RigError.timedOut("the daemon to exit after SIGTERM (killed it)", after: timeout)
        }
        self.daemon = nil
        return ending
    }

    /// SIGKILL: the crash. Waits until the process is reaped.
    func killDaemon() async {
        guard let daemon else { return }
        await daemon.killAndWait()
        self.daemon = nil
    }

    /// Stops the current daemon (if any) with SIGTERM, then starts a new one on the same journal.
    func restartDaemon() async throws {
        if daemon != nil { try await stopDaemon() }
        try await startDaemonAndWaitUntilReady()
    }

    var daemonHasExited: Bool {
        get async { await daemon?.hasExited ?? true }
    }

    /// The last stderr lines of the current (or last) daemon.
    func daemonStderrTail(lines: Int = 40) -> String {
        guard let path = stderrPaths.last else { return "(the daemon was never started)" }
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    var lastStderrPath: String { stderrPaths.last ?? "-" }

    // MARK: Controller side

    /// Sends a line and waits for the first line from the daemon after it that matches.
    func send(
        _ line: String, thenWaitFor description: String, timeout: Duration = .seconds(10),
        _ matches: @escaping @Sendable (String) -> Bool
    ) async throws -> String {
        let from = await lines.count
        try await simulator.sendLine(line)
        return try await lines.first(from: from, matching: description, timeout: timeout, matches).line
    }

    /// Waits for exactly `line` from the daemon, at or after index `from` (default: any time so far).
    @discardableResult
    func expectLine(_ line: String, from: Int = 0, timeout: Duration = .seconds(10)) async throws -> Int {
        try await lines.first(from: from, matching: "'\(line)'", timeout: timeout) { $0 == line }.index
    }

    /// How many times the daemon wrote exactly `line`.
    func count(of line: String) async -> Int {
        await lines.lines.filter { $0 == line }.count
    }

    // MARK: The journal

    /// Opens the journal read-only (safe while the daemon runs; WAL readers never block it).
    nonisolated func openJournal() throws -> Journal {
        try Journal.openReadOnly(path: journalPath)
    }

    /// The latest session of a vend id, read from the journal.
    nonisolated func session(vendID: String) throws -> SessionRecord? {
        guard let id = VendID(vendID) else { throw RigError.setup("'\(vendID)' is not a valid vend id") }
        let journal = try openJournal()
        defer { journal.close() }
        return try journal.latestSession(vendID: id)
    }

    /// Waits until the journal holds an invoice reference for `vendID` (written before `ACCEPT`).
    func reference(vendID: String, timeout: Duration = .seconds(10)) async throws -> InvoiceReference {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            // Another process writes the journal: there is no event to wait for, so look again shortly.
            if let reference = try session(vendID: vendID)?.reference { return reference }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw RigError.timedOut("an invoice reference for vend \(vendID) in the journal", after: timeout)
    }

    /// Waits until the journal's session for `vendID` is in one of `states`; returns it.
    @discardableResult
    func waitForSession(
        _ vendID: String, in states: Set<SessionState>, timeout: Duration = .seconds(10)
    ) async throws -> SessionRecord {
        let deadline = ContinuousClock.now + timeout
        var last: SessionRecord?
        while ContinuousClock.now < deadline {
            last = try session(vendID: vendID)
            if let last, states.contains(last.state) { return last }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw RigError.timedOut(
            "vend \(vendID) to reach \(states.map(\.rawValue).sorted()) in the journal (last: \(last?.state.rawValue ?? "no session"))",
            after: timeout)
    }

    /// Waits until no session in the journal is open (every one settled), bounded.
    func waitUntilJournalSettled(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var open: [SessionRecord] = []
        while ContinuousClock.now < deadline {
            let journal = try openJournal()
            open = try journal.openSessions()
            journal.close()
            if open.isEmpty { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw RigError.timedOut(
            "every journal session to settle; still open: \(open.map { "\($0.vendID) \($0.state.rawValue)" })",
            after: timeout)
    }

    // MARK: The sandbox

    /// The sandbox's invoice with this reference.
    func invoice(_ reference: InvoiceReference) async -> SandboxInvoice? {
        await sandbox.invoices().first { $0.reference.lowercased() == reference.rawValue.lowercased() }
    }

    // MARK: Teardown

    /// Kills the daemon, stops the sandbox and the simulator, removes the temp dir.
    func tearDown(keepDirectory: Bool = false) async {
        await killDaemon()
        await lines.close()
        await simulator.shutdown()
        await sandbox.stop()
        if !keepDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }
}

/// Runs `body` with a fresh rig and always tears it down (killing the daemon). A failure carries
/// the daemon's last stderr lines, and the rig's directory is kept for a post-mortem.
func withKioskRig<T: Sendable>(
    _ options: RigOptions = RigOptions(), _ body: (KioskRig) async throws -> T
) async throws -> T {
    let rig = try await KioskRig.make(options)
    do {
        let result = try await body(rig)
        await rig.tearDown()
        return result
    } catch {
        let tail = await rig.daemonStderrTail()
        let path = await rig.lastStderrPath
        await rig.tearDown(keepDirectory: true)
        throw RigError.failedWithDaemonLog(underlying: error, stderrPath: path, stderrTail: tail)
    }
}
