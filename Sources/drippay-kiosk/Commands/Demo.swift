import ArgumentParser

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'demo' is not yet available in this build.")
    }
}
