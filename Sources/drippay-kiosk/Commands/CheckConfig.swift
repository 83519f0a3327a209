import ArgumentParser
import KioskConfig
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `drippay-kiosk check-config`: validates a config file and its hardware profile.
struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Checks a config file and its hardware profile without starting anything.",
        discussion: """
            Reads the config file, finds its hardware profile (a name from hardware-profiles/, \
            looked up next to the config file, then in /usr/share/drippay-kiosk/hardware-profiles, \
            then in a source checkout; or a path ending in .toml), merges the two (the config file \
            wins) and checks every key: names, types, ranges, the API URL, the token file's \
            permissions, the QR payload and the planogram.

            Every problem is printed on standard output as FILE:LINE: message, the form editors \
            and CI jump to, and the exit status is 78 (EX_CONFIG). A valid config prints a short \
            summary (machine, profile file, protocol, serial device, display) and exits 0.

            The token file must not be readable by group or others (`chmod 600 FILE`), unless \
            systemd passes the token as the credential drippay-token ($CREDENTIALS_DIRECTORY).

            Examples:
              drippay-kiosk check-config --config /etc/drippay-kiosk/kiosk.toml
              DRIPPAY_KIOSK_CONFIG=/etc/drippay-kiosk/kiosk.toml drippay-kiosk check-config
            """
    )

    @OptionGroup var config: ConfigOption

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let file = try config.requiredFile(environment: environment)
        switch ConfigLoader.load(configFile: file, environment: environment) {
        case .success(let configuration):
            print("\(file): OK")
            print(configuration.summary)
            if let credential = TokenLoader.credentialFile(environment: environment) {
                print("token:      systemd credential \(credential)")
            } else {
                print("token:      \(configuration.api.tokenFile)")
            }
        case .failure(let problems):
            for problem in problems.problems { print(problem.description) }
            let count = problems.problems.count
            StandardStream.error.write(
                Data("check-config: \(count) problem\(count == 1 ? "" : "s") in \(file); nothing was started\n".utf8))
            throw ExitCode(ConfigProblems.exitCode)
        }
    }
}
