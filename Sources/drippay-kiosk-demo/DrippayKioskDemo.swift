import ArgumentParser

/// The demo and the API sandbox, apart from the daemon: `drippay-kiosk-demo demo|sandbox`.
///
/// A second executable so that the shipped `drippay-kiosk` (the Debian package) links neither the
/// fake API (DripPaySandbox, SwiftNIO's server) nor the simulated controller. Built from the source
/// tree only: `scripts/demo` builds and runs it.
@main
struct DrippayKioskDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drippay-kiosk-demo",
        abstract: "The daemon's demo and the built-in fake DripPay API, for development (not packaged).",
        discussion: """
            `scripts/demo` builds this executable and runs `drippay-kiosk-demo demo`. \
            `drippay-kiosk-demo sandbox --port N` serves the fake API for tests and development. \
            The daemon itself is `drippay-kiosk`; in a build tree, `drippay-kiosk demo` and \
            `drippay-kiosk sandbox` run these commands from here.
            """,
        subcommands: [Demo.self, Sandbox.self]
    )
}
