import ArgumentParser
import DripPayAPI
import Foundation
import KioskCore

/// `drippay-kiosk ping`: is the API reachable, and does the token have what the daemon needs?
struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Calls the DripPay API's /ping and checks the token's abilities.",
        discussion: """
            Prints the abilities the token has and names any the daemon needs but lacks
            (list-invoice, view-invoice, create-invoice, cancel-invoice). Exit 0 when the API
            answers and nothing is missing; 1 otherwise.
            Until the config loader is wired in, give --base-url and --token-file.
            """)

    @Option(name: .customLong("config"), help: "The daemon's config file (not yet read by this command).")
    var config: String?

    @Option(help: "The API base URL, e.g. https://drippay-dev.com/api/v1 (http:// only for loopback).")
    var baseURL: String?

    @Option(help: "A file holding the token '{id}|{secret}'.")
    var tokenFile: String?

    @Option(help: "Request timeout in seconds.")
    var timeout: Int = 10

    func run() async throws {
        guard let baseURL, let tokenFile else {
            throw ValidationError(
                "give --base-url and --token-file (reading them from --config is not wired in this build yet)")
        }
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw ValidationError("\(tokenFile): cannot read the token file (\(error.localizedDescription))")
        }
        guard !token.isEmpty else { throw ValidationError("\(tokenFile): the token file is empty") }
        let client: DripPayClient
        do {
            client = try DripPayClient(baseURL: baseURL, token: APIToken(token), requestTimeout: .seconds(timeout))
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        }
        let report = await pingReport(client: client)
        print(report.text)
        if !report.ok { throw ExitCode.failure }
    }
}
