import ArgumentParser
import KioskCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `drippay-kiosk demo` and `drippay-kiosk sandbox` are in the second executable,
/// `drippay-kiosk-demo`, so that the shipped daemon links neither the fake API nor the simulated
/// controller. In a build tree (both executables side by side) these two commands run it; on a
/// machine with only the package they say where the demo is.
enum DemoExecutable {
    static let name = "drippay-kiosk-demo"
    /// EX_UNAVAILABLE (sysexits.h): the command exists, but not in this installation.
    static let unavailable: Int32 = 69

    /// Replaces this process with `drippay-kiosk-demo COMMAND ARGUMENTS…` from beside this
    /// executable; returns only after telling why it could not.
    static func exec(_ command: String, _ arguments: [String]) throws {
        let own = ownPath()
        let directory = own.lastIndex(of: "/").map { String(own[..<$0]) } ?? "."
        let path = directory + "/" + name
        guard access(path, X_OK) == 0 else {
            StandardStream.error.write(
                """
                drippay-kiosk \(command): not part of the daemon's package. The demo and the API sandbox \
                are the separate executable \(name), built from the source tree: run `scripts/demo` there, \
                or `swift build --product \(name)` and then `\(name) \(command)`. (No \(name) beside \(own).)

                """)
            throw ExitCode(unavailable)
        }
        let argv = ([path, command] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        let reason = String(cString: strerror(errno))
        argv.forEach { free($0) }
        StandardStream.error.write("drippay-kiosk \(command): could not start \(path): \(reason)\n")
        throw ExitCode(unavailable)
    }

    /// This executable's path: /proc/self/exe (Linux), else argv[0].
    private static func ownPath() -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBufferPointer { pointer in
            pointer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pointer.count) {
                readlink("/proc/self/exe", $0, pointer.count - 1)
            }
        }
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : CommandLine.arguments[0]
    }
}

/// `drippay-kiosk demo`: runs `drippay-kiosk-demo demo` (see `DemoExecutable`).
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Shows three vends with no hardware and no account: runs drippay-kiosk-demo demo (source tree only).",
        discussion: """
            The demo is the separate executable drippay-kiosk-demo, built from the source tree \
            (`scripts/demo` builds and runs it); the Debian package ships only the daemon. In a build \
            tree this command runs the drippay-kiosk-demo beside it with the same arguments \
            (`drippay-kiosk-demo demo --help`); elsewhere it says so and exits 69.
            """)

    @Argument(parsing: .captureForPassthrough, help: "Passed on to drippay-kiosk-demo demo.")
    var arguments: [String] = []

    func run() throws { try DemoExecutable.exec("demo", arguments) }
}

/// `drippay-kiosk sandbox`: runs `drippay-kiosk-demo sandbox` (see `DemoExecutable`).
struct Sandbox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Runs the fake DripPay API on 127.0.0.1: runs drippay-kiosk-demo sandbox (source tree only).",
        discussion: """
            The API sandbox is in the separate executable drippay-kiosk-demo, built from the source \
            tree; the Debian package ships only the daemon. In a build tree this command runs the \
            drippay-kiosk-demo beside it with the same arguments (`drippay-kiosk-demo sandbox --help`); \
            elsewhere it says so and exits 69.
            """)

    @Argument(parsing: .captureForPassthrough, help: "Passed on to drippay-kiosk-demo sandbox.")
    var arguments: [String] = []

    func run() throws { try DemoExecutable.exec("sandbox", arguments) }
}
