import ArgumentParser

/// The one executable. Each subcommand lives in `Commands/` and only wires library code.
@main
struct DrippayKiosk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drippay-kiosk",
        abstract: "Takes payment for a vending machine through the DripPay invoice API.",
        discussion: """
            Start with `scripts/demo` (in the source tree) to see a whole vend with no hardware and no account.
            On a machine: `check-config`, then `ping`, then `run` (usually under systemd).
            """,
        version: kioskVersion,
        subcommands: [
            Run.self, CheckConfig.self, Ping.self, Ports.self, Journal.self, Demo.self, Sandbox.self, QR.self,
        ]
    )
}
