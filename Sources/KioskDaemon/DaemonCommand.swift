import KioskConfig
import KioskCore
import KioskLogging
import Logging
import ServiceLifecycle

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `drippay-kiosk run` does, as a function the executable calls: load the config and the
/// token, set up logging, run the daemon until SIGTERM/SIGINT. Returns the exit status
/// (docs/daemon.md, "Exit codes"): 0 after a clean drain, 78 for a config or token problem, 1 for a fatal fault.
public enum DaemonCommand {
    /// The exit status for a fatal fault (journal, display, internal error).
    public static let fatalExitCode: Int32 = 1

    public static func run(
        configFile: String, environment: [String: String] = ProcessInfo.processInfo.environment
    )
        async -> Int32
    {
        let configuration: KioskConfiguration
        switch ConfigLoader.load(configFile: configFile, environment: environment) {
        case .success(let loaded): configuration = loaded
        case .failure(let problems):
            for problem in problems.problems { printError(problem.description) }
            printError("drippay-kiosk run: the config has problems; nothing was started (check-config shows them too)")
            return ConfigProblems.exitCode
        }
        let token: APIToken
        do {
            token = try configuration.loadToken(environment: environment)
        } catch {
            printError("\(configFile): \(error)")
            return ConfigProblems.exitCode
        }
        KioskLogging.bootstrap(level: logLevel(environment), token: token)
        let logger = Logger(label: "drippay-kiosk")

        let daemon = KioskDaemon(
            configuration: configuration, token: token, options: KioskDaemonOptions(environment: environment))
        var groupConfiguration = ServiceGroupConfiguration(
            services: [daemon], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Shutdown is bounded by the daemon itself (about 6 s; 10 s with MDB cancels and the final
        // screen); this is the backstop under systemd's 90 s.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(12)
        groupConfiguration.maximumCancellationDuration = .seconds(1)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
            return 0
        } catch let error as DaemonError {
            logger.critical("\(error)")
            printError("drippay-kiosk run: \(error)")
            return fatalExitCode
        } catch {
            logger.critical("stopped on an unexpected error: \(error)")
            printError("drippay-kiosk run: stopped on an unexpected error: \(error)")
            return fatalExitCode
        }
    }

    /// `DRIPPAY_KIOSK_LOG_LEVEL` (trace, debug, info, notice, warning, error, critical); info by default.
    static func logLevel(_ environment: [String: String]) -> Logger.Level {
        environment["DRIPPAY_KIOSK_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
    }

    static func printError(_ line: String) {
        StandardStream.error.write(Data((line + "\n").utf8))
    }
}
