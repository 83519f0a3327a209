import ArgumentParser
import KioskCore
import KioskDemo

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `drippay-kiosk-demo sandbox`: the built-in fake DripPay API, in the foreground.
struct Sandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Runs the built-in fake DripPay API on 127.0.0.1 until SIGINT/SIGTERM.",
        discussion: """
            Behaves like the real API (tokens, abilities, validation, rate limits, pagination).
            Each invoice's qr_code_image_url serves a WebP QR of a Strike-like BOLT11 quote (with an
            ETag), re-quoted every --quote-seconds; each quote is payable for twice that long.
            Pay like a wallet with POST /_sandbox/wallet/pay and the scanned text as the body, open
            http://127.0.0.1:PORT/pay/<reference>, or use --auto-pay-after.
            Faults for manual testing: POST /_sandbox/faults/{server-errors?count=N&status=500,
            garbage?count=N, rate-limit?count=N&retry_after=S, latency?ms=N, drop-next-create?commit=1,
            status-word?word=expired (empty: off), other-invoices?count=N&machine_id=M&malformed=1,
            deletes-between-pages?count=N&sparing=MACHINE, soft-delete-payable?on=1, malformed-next-create,
            redirect?count=N};
            POST /_sandbox/invoices/<reference>/pay; POST /_sandbox/auto-pay?after_ms=N;
            GET /_sandbox/invoices; GET /_sandbox/requests.
            """)

    @Option(help: "Port on 127.0.0.1 (0 = any free port).")
    var port: Int = 8080

    @Option(help: "The token to accept, '{id}|{secret}' (default: a generated one). It has every ability.")
    var token: String?

    @Option(help: "Pay every new invoice this many seconds after it is created.")
    var autoPayAfter: Int?

    @Option(help: "Issue a new Lightning quote for each pending invoice this often (seconds).")
    var quoteSeconds: Int = 30

    @Option(help: "Pending invoices read as this status word (e.g. expired) and refuse a cancel with 422.")
    var statusWord: String?

    @Option(help: "Start with this many pending invoices of another machine (OTHER-MACHINE) in the list.")
    var otherInvoices: Int = 0

    @Option(help: "Of --other-invoices, this many are malformed in lists (null provider_invoice_id, total \"1.505\").")
    var malformedInvoices: Int = 0

    @Option(help: "Each list read cancels this many of the newest OTHER-MACHINE invoices (offsets shift).")
    var deletesBetweenPages: Int = 0

    @Flag(help: "A cancel soft-deletes the invoice (404) but it can still be paid.")
    var softDeletedStillPayable = false

    func validate() throws {
        guard quoteSeconds >= 1 else {
            throw ValidationError("--quote-seconds must be at least 1, got \(quoteSeconds)")
        }
    }

    func run() async throws {
        // Unbuffered, so a script reading a pipe sees the base URL at once.
        var faults = SandboxServer.Faults()
        faults.statusWord = statusWord
        faults.otherInvoices = max(otherInvoices, malformedInvoices)
        faults.malformedInvoices = malformedInvoices
        faults.deletesBetweenPages = deletesBetweenPages
        faults.softDeletedStillPayable = softDeletedStillPayable
        try await SandboxServer.run(
            port: port, token: token, autoPayAfter: autoPayAfter, quoteSeconds: quoteSeconds, faults: faults
        ) {
            StandardStream.output.write(Data($0.utf8))
        }
    }
}
