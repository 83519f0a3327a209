import ArgumentParser

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ping", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'ping' is not yet available in this build.")
    }
}
