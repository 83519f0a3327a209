import ArgumentParser
import KioskCore
import KioskDemo
import KioskLogging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `drippay-kiosk-demo demo` (`scripts/demo`): the whole flow with no hardware and no account.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Shows three vends end to end with no hardware and no account (about 15 s).",
        discussion: """
            Starts the built-in DripPay API sandbox on 127.0.0.1, a simulated vmc-line controller \
            on a pseudo-terminal and the daemon itself, configured through a temporary config file \
            (profile "simulator", terminal display). Then:
              1. a paid vend: the customer opens the URL in the QR code on screen (the sandbox's \
            pay page pays the invoice) -> DISPENSE -> the controller answers DISPENSED;
              2. a vend nobody pays: the QR times out -> DENY timeout, invoice cancelled;
              3. a vend the customer aborts at the machine -> DENY aborted, invoice cancelled.
            Prints the screens and a summary. Exits 0 only if every vend ended as expected and no \
            invoice is left pending at the API.
            """
    )

    @Option(name: .long, help: "QR timeout of the unpaid vend, in seconds.")
    var paymentTimeout: Int = 6

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Copy the daemon's metrics textfile here after the run (scripts/monitoring-test reads it).",
            valueName: "file"))
    var metricsCopy: String?

    func run() async throws {
        // The screens and the narration tell the story; only errors are logged.
        KioskLogging.bootstrap(level: .error, token: nil)
        let report = try await KioskDemo.run(
            paymentTimeout: max(2, paymentTimeout), metricsCopy: metricsCopy
        ) { line in
            StandardStream.output.write(Data(("\n» " + line + "\n").utf8))
        }
        print("\n" + report.table)
        if !report.ok { throw ExitCode(1) }
    }
}
