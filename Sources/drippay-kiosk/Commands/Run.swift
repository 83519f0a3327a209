import ArgumentParser
import KioskConfig
import KioskDaemon

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `drippay-kiosk run`: the daemon.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Runs the kiosk daemon until SIGTERM or SIGINT.",
        discussion: """
            Loads the config and its hardware profile, the API token, opens the journal, the \
            serial link and the display, checks the API with /ping, settles sessions left open by \
            a crash, then tells systemd READY=1 and serves vends. While the API is unreachable, \
            the token lacks abilities or the serial link is down, the kiosk is out of service \
            (the controller and the display are told) and comes back by itself.

            SIGTERM/SIGINT: stops taking vends, lets a dispense in flight finish (up to 5 s), \
            leaves anything else in the journal for the next start, exits 0.

            Exit status: 0 after a clean shutdown; 78 when the config or the token has a problem \
            (each printed as FILE:LINE: message); 1 on a fatal fault (journal unusable, display \
            cannot be opened). Log level: DRIPPAY_KIOSK_LOG_LEVEL (default info).

            Example:
              drippay-kiosk run --config /etc/drippay-kiosk/kiosk.toml
            """
    )

    @OptionGroup var config: ConfigOption

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let file = try config.requiredFile(environment: environment)
        let status = await DaemonCommand.run(configFile: file, environment: environment)
        if status != 0 { throw ExitCode(status) }
    }
}
