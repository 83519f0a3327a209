import ControllerSimulator
import DripPayAPI
import DripPaySandbox
import KioskConfig
import KioskCore
import KioskDaemon
import KioskDisplay
import Logging
import PayCodeImaging
import PayCodes
import ServiceLifecycle
import Synchronization
import VendSession

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One vend of the demo and how it ended.
public struct DemoVendResult: Hashable, Sendable {
    public var vend: String
    public var expected: String
    public var got: String
    /// The invoice's status at the API (sandbox) after the vend.
    public var invoiceStatus: String
    public var expectedInvoiceStatus: String

    public var ok: Bool { expected == got && invoiceStatus == expectedInvoiceStatus }
}

/// What `drippay-kiosk-demo demo` found.
public struct DemoReport: Sendable {
    public var vends: [DemoVendResult]
    /// Invoices still pending at the sandbox after the demo (must be none).
    public var pendingInvoices: Int
    public var ok: Bool { !vends.isEmpty && vends.allSatisfy(\.ok) && pendingInvoices == 0 }

    /// The summary table.
    public var table: String {
        var lines = ["vend  expected          got               invoice at API"]
        for v in vends {
            let mark = v.ok ? "ok" : "MISMATCH (expected invoice \(v.expectedInvoiceStatus))"
            lines.append(
                v.vend.padded(toLength: 6) + v.expected.padded(toLength: 18)
                    + v.got.padded(toLength: 18) + v.invoiceStatus + "  " + mark)
        }
        lines.append("pending invoices left at the API: \(pendingInvoices)")
        lines.append(ok ? "demo: every vend ended as expected" : "demo: FAILED")
        return lines.joined(separator: "\n")
    }
}

/// Why the demo could not run.
public enum DemoError: Error, CustomStringConvertible {
    case setup(String)
    case step(String)

    public var description: String {
        switch self {
        case .setup(let message): return "demo set-up failed: \(message)"
        case .step(let message): return "demo step failed: \(message)"
        }
    }
}

/// `drippay-kiosk-demo demo`: the whole flow on one machine, no hardware, no account. The built-in
/// API sandbox on 127.0.0.1, a simulated `vmc-line` controller on a pty, the terminal display,
/// and the real daemon in-process, configured through a config file loaded by `ConfigLoader`.
public enum KioskDemo {
    /// The hardware profile used when no `simulator.toml` is installed or in a checkout nearby.
    static let fallbackProfile = """
        # written by drippay-kiosk-demo demo: no installed simulator profile was found
        [serial]
        device = "/dev/null"
        [controller]
        protocol = "vmc-line"
        [display]
        output = "terminal"
        """

    /// Runs three vends (paid, timed out, aborted) and reports how each ended.
    ///
    /// - Parameters:
    ///   - terminal: where the terminal display draws (stdout for the command).
    ///   - paymentTimeout: the QR timeout of the timed-out vend (seconds).
    ///   - say: narration lines.
    ///   - metricsCopy: where to copy the daemon's metrics textfile as the run left it (the
    ///     monitoring tests take their series from it); nil: not kept.
    public static func run(
        terminal: Int32 = STDOUT_FILENO, paymentTimeout: Int = 6, metricsCopy: String? = nil,
        say: @escaping @Sendable (String) -> Void
    ) async throws -> DemoReport {
        let tokenValue = APISandbox.generateToken()
        let sandbox = APISandbox(tokens: [tokenValue: Set(Ability.allCases)])
        let port: Int
        do {
            port = try await sandbox.start(port: 0)
        } catch {
            throw DemoError.setup("cannot start the API sandbox on 127.0.0.1: \(error)")
        }
        let simulator: ControllerSimulator
        do {
            simulator = try await ControllerSimulator.plugged(kind: .vmcLine)
        } catch {
            await sandbox.stop()
            throw DemoError.setup("cannot create the simulated controller's pty: \(error)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "drippay-demo-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let report = try await runVends(
                sandbox: sandbox, port: port, token: tokenValue, simulator: simulator, directory: directory,
                terminal: terminal, paymentTimeout: paymentTimeout, say: say)
            if let metricsCopy {
                let textfile = directory + "/drippay_kiosk.prom"
                do {
                    try? FileManager.default.removeItem(atPath: metricsCopy)
                    try FileManager.default.copyItem(atPath: textfile, toPath: metricsCopy)
                } catch {
                    throw DemoError.setup("cannot copy the metrics textfile \(textfile) to \(metricsCopy): \(error)")
                }
            }
            return report
        } catch {
            await simulator.shutdown()
            await sandbox.stop()
            throw error
        }
    }

    /// Writes a token file (0600) and a config (profile `simulator`, the loopback sandbox on
    /// `port`, `device`, journal and metrics in `directory`; a profile too if none is installed)
    /// and loads both the way `run` does. Also used by tests and the benchmark.
    public static func writeConfig(
        directory: String, port: Int, token: String, device: String, paymentTimeout: Int, resumeGrace: Int = 3,
        display: String = "terminal"
    ) throws -> (KioskConfiguration, APIToken) {
        let fm = FileManager.default
        try fm.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let tokenFile = directory + "/token"
        guard fm.createFile(atPath: tokenFile, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw DemoError.setup("cannot write \(tokenFile)")
        }
        let shipped = ConfigLoader.defaultProfileSearchPaths().map { $0 + "/simulator.toml" }
            .contains { fm.fileExists(atPath: $0) }
        if !shipped {
            try fm.createDirectory(atPath: directory + "/hardware-profiles", withIntermediateDirectories: true)
            try fallbackProfile.write(
                toFile: directory + "/hardware-profiles/simulator.toml", atomically: true, encoding: .utf8)
        }
        let origin = "http://127.0.0.1:\(port)"
        let configFile = directory + "/kiosk.toml"
        let text = """
            # drippay-kiosk-demo demo: written and loaded by `drippay-kiosk-demo demo`
            machine_id = "DEMO-1"
            profile = "simulator"
            currency = "USD"

            [api]
            base_url = "\(origin)/api/v1"
            token_file = "\(tokenFile)"
            request_timeout_s = 5

            [serial]
            device = "\(device)"

            [vend]
            payment_timeout_s = \(paymentTimeout)
            resume_grace_s = \(resumeGrace)
            # a short late-payment watch: the demo waits a few seconds for each vend's end
            late_payment_watch_s = 2

            [vend.items]
            "5" = "Soda"
            "7" = "Chocolate bar"

            [display]
            output = "\(display)"

            [qr]
            source = "invoice-image"

            [journal]
            path = "\(directory)/journal.sqlite"
            retention_days = 1

            [metrics]
            textfile = "\(directory)/drippay_kiosk.prom"

            """
        try text.write(toFile: configFile, atomically: true, encoding: .utf8)
        let configuration: KioskConfiguration
        switch ConfigLoader.load(configFile: configFile, environment: [:]) {
        case .success(let loaded): configuration = loaded
        case .failure(let problems): throw DemoError.setup("the demo config does not load:\n\(problems)")
        }
        do {
            return (configuration, try configuration.loadToken(environment: [:]))
        } catch {
            throw DemoError.setup("\(error)")
        }
    }

    private static func runVends(
        sandbox: APISandbox, port: Int, token: String, simulator: ControllerSimulator, directory: String,
        terminal: Int32, paymentTimeout: Int, say: @escaping @Sendable (String) -> Void
    ) async throws -> DemoReport {
        let (configuration, apiToken) = try writeConfig(
            directory: directory, port: port, token: token, device: simulator.devicePath, paymentTimeout: paymentTimeout
        )
        say("API sandbox on http://127.0.0.1:\(port)/api/v1; simulated vmc-line controller on \(simulator.devicePath)")
        say("config \(configuration.configFile) (profile \(configuration.profileFile))")

        let display: any DisplayOutput
        do {
            display = try makeDisplayOutput(options: configuration.display, terminalFileDescriptor: terminal)
        } catch {
            throw DemoError.setup("\(error)")
        }
        let screens = Locked<[ScreenIntent]>([])
        let drawn = Locked<Screen?>(nil)
        let outcomes = Locked<[SessionOutcome]>([])
        let changed = Pulse()
        let daemon = KioskDaemon(
            configuration: configuration, token: apiToken,
            options: KioskDaemonOptions(
                environment: [:], display: display,
                onScreen: { intent in
                    screens.update { $0.append(intent) }
                    changed.signal()
                },
                onOutcome: { outcome in
                    outcomes.update { $0.append(outcome) }
                    changed.signal()
                },
                onDrawn: { screen in
                    drawn.set(screen)
                    changed.signal()
                }, linkBackoff: .init(initial: .milliseconds(50), maximum: .seconds(1))),
            logger: Logger(label: "drippay-kiosk.demo"))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [daemon], logger: Logger(label: "drippay-kiosk.demo")))

        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let report = try await script(
                    sandbox: sandbox, simulator: simulator, screens: screens, drawn: drawn, outcomes: outcomes,
                    changed: changed,
                    paymentTimeout: paymentTimeout, say: say)
                await group.triggerGracefulShutdown()
                try await tasks.next()
                await simulator.shutdown()
                await sandbox.stop()
                return report
            } catch {
                await group.triggerGracefulShutdown()
                _ = try? await tasks.next()
                throw error
            }
        }
    }

    /// What a customer's phone reads from `screen`: drawn at `width` x `height`, written as PNG,
    /// read back through libpng and decoded with zbar. Exactly one QR symbol must be there.
    static func scan(_ screen: Screen, width: Int, height: Int) throws -> String {
        let png: [UInt8]
        do {
            let canvas = try ScreenRenderer().render(screen, width: width, height: height)
            png = try PNGEncoder.encode(canvas)
        } catch {
            throw DemoError.step("rendering the pay screen to PNG failed: \(error)")
        }
        let image: GrayImage
        do {
            image = try ImageDecoder.decode(png, contentType: "image/png")
        } catch {
            throw DemoError.step("reading the pay screen's PNG failed: \(error)")
        }
        let texts = QRScanner.scan(image)
        guard texts.count == 1 else {
            throw DemoError.step(
                "zbar read \(texts.count) QR symbols on the \(width)x\(height) pay screen, not exactly one")
        }
        return texts[0]
    }

    private static func script(
        sandbox: APISandbox, simulator: ControllerSimulator, screens: Locked<[ScreenIntent]>, drawn: Locked<Screen?>,
        outcomes: Locked<[SessionOutcome]>, changed: Pulse, paymentTimeout: Int,
        say: @escaping @Sendable (String) -> Void
    ) async throws -> DemoReport {
        func expectLine(_ line: String, within timeout: Duration = .seconds(5)) async throws {
            do {
                try await simulator.waitForLine(line, timeout: timeout)
                say("controller <- \(line)")
            } catch {
                throw DemoError.step("\(error)")
            }
        }
        func send(_ line: String) async throws {
            say("controller -> \(line)")
            do { try await simulator.sendLine(line) } catch { throw DemoError.step("\(error)") }
        }
        func outcome(of id: String, timeout: Duration) async -> SessionOutcome? {
            _ = await changed.wait(
                until: { outcomes.value.contains { $0.record.vendID.rawValue == id } }, timeout: timeout)
            return outcomes.value.first { $0.record.vendID.rawValue == id }
        }
        func payScreenDrawn(timeout: Duration) async -> Screen? {
            let ready: @Sendable () -> Screen? = {
                guard case .pay(let pay)? = drawn.value, case .text = pay.code else { return nil }
                return drawn.value
            }
            _ = await changed.wait(until: { ready() != nil }, timeout: timeout)
            return ready()
        }

        try await expectLine("READY", within: .seconds(10))
        try await send("HELLO demo-vmc 1.0")
        try await expectLine("READY")

        // 1: paid. The customer scans the screen: the pay screen is rendered to PNG, the PNG is
        // decoded with zbar, and exactly the text read is paid through the sandbox's wallet.
        say("— vend 1: the customer pays —")
        try await send("VEND 1 5 1.50")
        try await expectLine("ACCEPT 1")
        guard let payScreen = await payScreenDrawn(timeout: .seconds(10)) else {
            throw DemoError.step("no pay screen with a QR code was drawn for vend 1")
        }
        let scanned = try scan(payScreen, width: 480, height: 320)
        say("customer scans the 480x320 pay screen: \(scanned.prefix(24))… (\(scanned.count) characters)")
        do {
            let request = HTTPExchange(
                method: "POST", url: "\(await sandbox.origin)/_sandbox/wallet/pay", headers: [],
                body: Array(scanned.utf8), route: "wallet")
            let response = try await CurlTransport().send(request, timeout: .seconds(5))
            say("wallet paid: HTTP \(response.status) \(String(decoding: response.body, as: UTF8.self))")
        } catch {
            throw DemoError.step("paying the scanned request failed: \(error)")
        }
        try await expectLine("DISPENSE 1")
        try await send("DISPENSED 1")
        let first = await outcome(of: "1", timeout: .seconds(5))

        // 2: nobody pays; the QR times out.
        say("— vend 2: nobody pays (QR times out after \(paymentTimeout) s) —")
        try await send("VEND 2 7 2.00")
        try await expectLine("ACCEPT 2")
        try await expectLine("DENY 2 timeout", within: .seconds(Int64(paymentTimeout) + 10))
        let second = await outcome(of: "2", timeout: .seconds(5))

        // 3: the customer aborts at the machine.
        say("— vend 3: the customer cancels at the machine —")
        try await send("VEND 3 5 1.50")
        try await expectLine("ACCEPT 3")
        try await send("ABORT 3")
        try await expectLine("DENY 3 aborted")
        let third = await outcome(of: "3", timeout: .seconds(5))

        let invoices = await sandbox.invoices()
        func invoiceStatus(_ outcome: SessionOutcome?) -> String {
            guard let reference = outcome?.record.reference?.rawValue.lowercased() else { return "none" }
            guard let invoice = invoices.first(where: { $0.reference.lowercased() == reference }) else {
                return "unknown"
            }
            return invoice.status.rawValue
        }
        func ending(_ outcome: SessionOutcome?) -> String {
            switch outcome?.ending {
            case .finished(let state)?: return state.rawValue
            case .parked?: return "parked"
            case nil: return "no outcome"
            }
        }
        let rows = [
            DemoVendResult(
                vend: "1", expected: "dispensed", got: ending(first), invoiceStatus: invoiceStatus(first),
                expectedInvoiceStatus: "paid"),
            DemoVendResult(
                vend: "2", expected: "cancelled", got: ending(second), invoiceStatus: invoiceStatus(second),
                expectedInvoiceStatus: "cancelled"),
            DemoVendResult(
                vend: "3", expected: "cancelled", got: ending(third), invoiceStatus: invoiceStatus(third),
                expectedInvoiceStatus: "cancelled"),
        ]
        return DemoReport(vends: rows, pendingInvoices: invoices.filter { $0.status == .pending }.count)
    }
}
