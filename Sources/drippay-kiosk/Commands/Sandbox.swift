import ArgumentParser

struct Sandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sandbox", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'sandbox' is not yet available in this build.")
    }
}
