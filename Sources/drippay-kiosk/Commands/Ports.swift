import ArgumentParser

struct Ports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ports", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'ports' is not yet available in this build.")
    }
}
