import ArgumentParser

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'check-config' is not yet available in this build.")
    }
}
