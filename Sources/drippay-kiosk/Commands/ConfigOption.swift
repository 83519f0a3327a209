import ArgumentParser
import KioskConfig
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `--config FILE`, shared by every command that reads the daemon's config; the file falls back
/// to `$DRIPPAY_KIOSK_CONFIG`.
struct ConfigOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The daemon's config file (TOML). Defaults to $DRIPPAY_KIOSK_CONFIG.", valueName: "file"))
    var config: String?

    /// The config file from `--config` or `$DRIPPAY_KIOSK_CONFIG`, nil when neither is given.
    func file(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        let file = config ?? environment["DRIPPAY_KIOSK_CONFIG"]
        return (file?.isEmpty ?? true) ? nil : file
    }

    /// The config file, for a command that cannot work without one.
    func requiredFile(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard let file = file(environment: environment) else {
            throw ValidationError("Give the config file with --config FILE or set DRIPPAY_KIOSK_CONFIG.")
        }
        return file
    }

    /// The loaded config when a file is given (see `loadConfiguration`), nil when none is.
    func load() throws -> KioskConfiguration? {
        try file().map(loadConfiguration)
    }
}

/// Loads and checks a config file for a command; its problems are printed to stderr as
/// `FILE:LINE: message` and the command exits 78, as `check-config` and `run` do.
func loadConfiguration(_ file: String) throws -> KioskConfiguration {
    switch ConfigLoader.load(configFile: file) {
    case .success(let configuration):
        return configuration
    case .failure(let problems):
        StandardStream.error.write(Data((problems.description + "\n").utf8))
        throw ExitCode(ConfigProblems.exitCode)
    }
}
