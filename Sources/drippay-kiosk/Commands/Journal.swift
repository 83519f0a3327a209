import ArgumentParser

struct Journal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "journal", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'journal' is not yet available in this build.")
    }
}
