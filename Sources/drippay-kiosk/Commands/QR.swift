import ArgumentParser

struct QR: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "qr", abstract: "Not yet available.")

    func run() async throws {
        throw ValidationError("'qr' is not yet available in this build.")
    }
}
