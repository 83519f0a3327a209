import ArgumentParser
import KioskCore
import KioskJournal

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `drippay-kiosk journal ...`: reads the journal for operators. Never writes to it, so it is safe
/// while the daemon runs.
struct Journal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Reads the journal: sessions, one session's history, refunds due, CSV/JSON exports.",
        discussion: """
            Opens the journal read-only; safe to run while the daemon is running.
            Examples:
              drippay-kiosk journal list --config /etc/drippay-kiosk/kiosk.toml --state refund_due
              drippay-kiosk journal list --journal /var/lib/drippay-kiosk/journal.sqlite
              drippay-kiosk journal show VVM-005-20261125T101530Z-000042 --journal ...
              drippay-kiosk journal refunds --journal ...
              drippay-kiosk journal export --format csv --output sessions.csv --journal ...
            """,
        subcommands: [List.self, Show.self, Refunds.self, Export.self],
        defaultSubcommand: List.self
    )

    // Declared here too so that `journal --journal PATH list` works as well as `journal list --journal PATH`.
    @OptionGroup var location: JournalLocation
}

/// Which journal to read.
struct JournalLocation: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The journal file.", valueName: "path"))
    var journal: String?

    /// The daemon's config file: the journal is its [journal] path.
    @OptionGroup var config: ConfigOption

    func open() throws -> KioskJournal.Journal {
        if let journal { return try KioskJournal.Journal.openReadOnly(path: journal) }
        if let file = config.file() {
            return try KioskJournal.Journal.openReadOnly(path: try loadConfiguration(file).journal.path)
        }
        throw ValidationError(
            "say which journal to read: --config FILE (or DRIPPAY_KIOSK_CONFIG), or --journal PATH (the daemon's "
                + "[journal] path, by default /var/lib/drippay-kiosk/journal.sqlite).")
    }
}

/// A failure the operator can act on, printed as is.
struct JournalCommandError: Error, CustomStringConvertible {
    let description: String
}

/// Parses `--state` values (kept as strings: SessionState belongs to KioskCore).
func parseStates(_ names: [String]) throws -> [SessionState] {
    try names.map { name in
        guard let state = SessionState(rawValue: name) else {
            throw ValidationError(
                "unknown state '\(name)'; one of: \(SessionState.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return state
    }
}

/// Left-aligned columns separated by two spaces.
func formatTable(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell.padded(toLength: widths[column])
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

extension Journal {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lists sessions, newest first.")

        @OptionGroup var location: JournalLocation

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Only sessions in this state (repeatable): \(SessionState.allCases.map(\.rawValue).joined(separator: ", ")).",
                valueName: "state"))
        var state: [String] = []

        @Option(name: .long, help: "At most this many sessions.")
        var limit: Int = 50

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be at least 1.") }
            _ = try parseStates(state)
        }

        func run() async throws {
            let state = try parseStates(self.state)
            let journal = try location.open()
            defer { journal.close() }
            let sessions = try journal.sessions(limit: limit, states: state)
            guard !sessions.isEmpty else {
                print(
                    "No sessions\(state.isEmpty ? "" : " in state \(state.map(\.rawValue).joined(separator: ", "))").")
                return
            }
            let rows = sessions.map {
                [
                    $0.tradeNo.rawValue, $0.vendID.rawValue, $0.product.rawValue, $0.price.description,
                    $0.state.rawValue,
                    $0.reference?.rawValue ?? "-", $0.updatedAt.journalShort,
                ]
            }
            print(formatTable(["TRADE_NO", "VEND_ID", "PRODUCT", "PRICE", "STATE", "REFERENCE", "UPDATED"], rows))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shows one session and every event of its history.")

        @OptionGroup var location: JournalLocation

        @Argument(help: "The session's trade_no (see `journal list`).")
        var tradeNo: String

        func run() async throws {
            let journal = try location.open()
            defer { journal.close() }
            guard let session = try journal.session(tradeNo: TradeNo(tradeNo)) else {
                throw JournalCommandError(description: "no session with trade_no \(tradeNo) in \(journal.path).")
            }
            let fields: [(String, String)] = [
                ("trade_no", session.tradeNo.rawValue), ("state", session.state.rawValue),
                ("vend_id", session.vendID.rawValue), ("product", session.product.rawValue),
                ("item_description", session.itemDescription), ("price", session.price.description),
                ("reference", session.reference?.rawValue ?? "-"),
                ("provider_invoice_id", session.providerInvoiceID ?? "-"), ("qr_payload", session.qrPayload ?? "-"),
                ("created_at", session.createdAt.journalISO8601), ("updated_at", session.updatedAt.journalISO8601),
                ("payment_deadline", session.paymentDeadline?.journalISO8601 ?? "-"),
                ("paid_at", session.paidAt?.journalISO8601 ?? "-"), ("note", session.note ?? "-"),
            ]
            print(formatTable(["FIELD", "VALUE"], fields.map { [$0.0, $0.1] }))
            print("")
            let events = try journal.events(tradeNo: session.tradeNo)
            print(
                formatTable(
                    ["AT", "STATE", "EVENT", "DETAIL"],
                    events.map { [$0.at.journalISO8601, $0.state.rawValue, $0.kind, $0.detail] }))
        }
    }

    struct Refunds: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Lists paid sessions that were not dispensed: refund these by hand.",
            discussion: """
                Each refund due shows what the DripPay dashboard needs: the invoice reference, the provider
                invoice id, the trade_no, the customer reference the machine's screen showed (what a customer
                quotes), the amount and when it was paid, and why the vend did not happen.
                Sessions whose dispense outcome is unknown are listed after them: check the machine before refunding.
                """)

        @OptionGroup var location: JournalLocation

        func run() async throws {
            let journal = try location.open()
            defer { journal.close() }
            let due = try journal.refundsDue()
            let unknown = try journal.sessions(limit: Int.max, states: [.dispenseUnknown]).reversed()
            func rows(_ sessions: some Sequence<SessionRecord>) -> [[String]] {
                sessions.map {
                    [
                        $0.reference?.rawValue ?? "-", $0.providerInvoiceID ?? "-", $0.tradeNo.rawValue,
                        $0.tradeNo.customerReference.text, $0.price.decimalString, $0.price.currency.code,
                        $0.paidAt?.journalShort ?? "-",
                        $0.note ?? "-",
                    ]
                }
            }
            let header = [
                "REFERENCE", "PROVIDER_INVOICE_ID", "TRADE_NO", "CUSTOMER_REFERENCE", "AMOUNT", "CURRENCY", "PAID_AT",
                "REASON",
            ]
            if due.isEmpty {
                print("No refunds due.")
            } else {
                print("Refunds due (\(due.count)):")
                print(formatTable(header, rows(due)))
            }
            if !unknown.isEmpty {
                print("")
                print("Dispense outcome unknown (\(unknown.count)): check the machine; refund if nothing came out.")
                print(formatTable(header, rows(unknown)))
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Exports sessions as CSV (RFC 4180) or JSON, oldest first; amounts as exact decimals.")

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case csv, json
        }

        @OptionGroup var location: JournalLocation

        @Option(name: .long, help: "csv or json.")
        var format: Format

        @Option(name: .long, help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
        var output: String?

        @Option(name: .long, help: ArgumentHelp("Only sessions in this state (repeatable).", valueName: "state"))
        var state: [String] = []

        func validate() throws { _ = try parseStates(state) }

        func run() async throws {
            let state = try parseStates(self.state)
            let journal = try location.open()
            defer { journal.close() }
            let sessions = Array(try journal.sessions(limit: Int.max, states: state).reversed())
            let data: Data
            switch format {
            case .csv: data = Data(try journal.exportCSV(sessions: sessions).utf8)
            case .json: data = try journal.exportJSON(sessions: sessions) + Data("\n".utf8)
            }
            if let output {
                do {
                    try data.write(to: URL(fileURLWithPath: output), options: .atomic)
                } catch {
                    throw JournalCommandError(description: "cannot write \(output): \(FileStatus.reason(of: error))")
                }
            } else {
                StandardStream.output.write(data)
            }
        }
    }
}
