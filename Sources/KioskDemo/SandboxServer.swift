import Dispatch
import DripPaySandbox
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// `drippay-kiosk-demo sandbox`: the built-in fake DripPay API in the foreground, until SIGINT or
/// SIGTERM. The command only parses its options; this is the wiring.
public enum SandboxServer {
    /// Starts the sandbox on 127.0.0.1:`port`, prints its banner through `write`, waits for the
    /// first SIGINT/SIGTERM and stops it.
    ///
    /// - Parameters:
    ///   - token: the token to accept (a generated one when nil); it has every ability.
    ///   - autoPayAfter: pay every new invoice this many seconds after it is created.
    ///   - quoteSeconds: how often each pending invoice gets a new Lightning quote.
    /// API oddities to start with (issue 22); each is also an admin endpoint (`/_sandbox/faults/...`).
    public struct Faults: Sendable {
        /// Pending invoices read as this word and refuse a cancel (`expired`, `failed`, ...).
        public var statusWord: String?
        /// Pending invoices of another machine (`OTHER-MACHINE`) listed before ours.
        public var otherInvoices = 0
        /// Of them, this many malformed in lists.
        public var malformedInvoices = 0
        /// Each list read cancels this many newest invoices of other machines.
        public var deletesBetweenPages = 0
        /// A cancel soft-deletes but the invoice stays payable.
        public var softDeletedStillPayable = false

        public init() {}
    }

    public static func run(
        port: Int, token: String?, autoPayAfter: Int?, quoteSeconds: Int, faults: Faults = Faults(),
        write: @Sendable (String) -> Void
    ) async throws {
        let token = token ?? APISandbox.generateToken()
        let sandbox = APISandbox(tokens: [token: Set(Ability.allCases)], quoteSeconds: quoteSeconds)
        if let autoPayAfter { await sandbox.setAutoPay(after: .seconds(autoPayAfter)) }
        await sandbox.setStatusWord(faults.statusWord)
        await sandbox.addInvoices(count: faults.malformedInvoices, machineID: "OTHER-MACHINE", malformed: true)
        await sandbox.addInvoices(
            count: max(0, faults.otherInvoices - faults.malformedInvoices), machineID: "OTHER-MACHINE")
        await sandbox.deleteBetweenPageReads(faults.deletesBetweenPages, only: "OTHER-MACHINE")
        await sandbox.setSoftDeletedStillPayable(faults.softDeletedStillPayable)
        try await sandbox.start(port: port)
        var banner = "DripPay API sandbox\n"
        banner += "  base URL: \(await sandbox.baseURL)\n"
        banner += "  token:    \(token)\n"
        banner += "  pay page: \(await sandbox.payURL(for: InvoiceReference("<reference>")))\n"
        banner += "  quotes:   a new BOLT11 every \(quoteSeconds) s; pay with POST /_sandbox/wallet/pay\n"
        if let autoPayAfter { banner += "  auto-pay: new invoices are paid after \(autoPayAfter) s\n" }
        banner += "Ctrl-C to stop.\n"
        write(banner)
        let signal = await firstSignal([SIGINT, SIGTERM])
        write("stopping (signal \(signal))\n")
        await sandbox.stop()
    }

    /// Waits for the first of these signals (their default action is turned off).
    static func firstSignal(_ signals: [Int32]) async -> Int32 {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        let sources = signals.map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        for await number in stream { return number }
        return 0
    }
}
