import ArgumentParser
import DripPayAPI
import KioskConfig
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `drippay-kiosk ping`: is the API reachable, and does the token have what the daemon needs?
struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Calls the DripPay API's /ping and checks the token's abilities.",
        discussion: """
            Prints the abilities the token has and names any the daemon needs but lacks
            (list-invoice, view-invoice, create-invoice, cancel-invoice). Exit 0 when the API
            answers and nothing is missing; 1 otherwise.
            The API URL, token and timeout come from the config file ([api]; the token from
            $CREDENTIALS_DIRECTORY/drippay-token or [api] token_file); --base-url and
            --token-file override them or stand in for a config. The request goes as the
            daemon's do: [api] ca_file and proxy, else the environment's https_proxy,
            http_proxy and no_proxy.
            Examples:
              drippay-kiosk ping --config /etc/drippay-kiosk/kiosk.toml
              drippay-kiosk ping --base-url https://drippay-dev.com/api/v1 --token-file ./token
            """)

    @OptionGroup var config: ConfigOption

    @Option(help: "The API base URL, e.g. https://drippay-dev.com/api/v1 (http:// only for loopback).")
    var baseURL: String?

    @Option(help: "A file holding the token '{id}|{secret}'.")
    var tokenFile: String?

    @Option(help: "Request timeout in seconds (default: [api] request_timeout_s, else 10).")
    var timeout: Int?

    func run() async throws {
        let configuration = try config.load()
        guard let baseURL = baseURL ?? configuration?.api.baseURL else {
            throw ValidationError("give --config FILE (or set DRIPPAY_KIOSK_CONFIG), or --base-url and --token-file")
        }
        let token: APIToken
        do {
            if let tokenFile {
                token = try TokenLoader.read(tokenFile, checkMode: false)
            } else if let configuration {
                token = try configuration.loadToken(environment: ProcessInfo.processInfo.environment)
            } else {
                throw ValidationError("give --token-file FILE (or --config FILE)")
            }
        } catch let error as TokenError {
            StandardStream.error.write(Data("\(error)\n".utf8))
            throw ExitCode(ConfigProblems.exitCode)
        }
        let seconds = timeout ?? configuration?.api.requestTimeoutSeconds ?? 10
        let client: DripPayClient
        do {
            // As the daemon reaches the API: [api] ca_file and proxy (else the environment's proxy).
            let transport = CurlTransport(
                options: CurlTransport.Options(caFile: configuration?.api.caFile, proxy: configuration?.api.proxy),
                tokenOrigin: baseURL)
            client = try DripPayClient(
                baseURL: baseURL, token: token, requestTimeout: .seconds(seconds), transport: transport)
        } catch {
            StandardStream.error.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        }
        let report = await pingReport(client: client)
        print(report.text)
        if !report.ok { throw ExitCode.failure }
    }
}
