import ArgumentParser

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'run' is not yet available in this build.")
    }
}
