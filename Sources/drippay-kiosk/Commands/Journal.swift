import ArgumentParser
import KioskCore
import KioskJournal

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `drippay-kiosk journal ...`: reads the journal for operators, and records their settlement of
/// refunds due (`resolve`). Safe while the daemon runs: reads never block it, and `resolve` adds one
/// row beside a session the daemon no longer changes.
struct Journal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract:
            "Reads the journal: sessions, one session's history, refunds due, CSV/JSON exports; resolves refunds.",
        discussion: """
            Opens the journal read-only (`resolve` writes one row); safe to run while the daemon is running.
            Examples:
              drippay-kiosk journal list --config /etc/drippay-kiosk/kiosk.toml --state refund_due
              drippay-kiosk journal list --journal /var/lib/drippay-kiosk/journal.sqlite
              drippay-kiosk journal show VVM-005-20261125T101530Z-000042 --journal ...
              drippay-kiosk journal refunds --journal ...
              drippay-kiosk journal resolve VVM-005-20261125T101530Z-000042 --note "refunded by phone" --journal ...
              drippay-kiosk journal export --format csv --output sessions.csv --journal ...
            """,
        subcommands: [List.self, Show.self, Refunds.self, Resolve.self, Export.self],
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
        try KioskJournal.Journal.openReadOnly(path: try path())
    }

    /// Opens the journal for `resolve`'s one write. Never creates a journal: a wrong path is an error.
    func openForWriting() throws -> KioskJournal.Journal {
        let path = try path()
        guard FileStatus.exists(path) else {
            throw JournalCommandError(
                description: "no journal at \(path). Check --journal or the config's [journal] path.")
        }
        return try KioskJournal.Journal.open(path: path, machineID: "")
    }

    func path() throws -> String {
        if let journal { return journal }
        if let file = config.file() { return try loadConfiguration(file).journal.path }
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

/// Who runs `journal resolve` when `--by` is not given: the person behind sudo, else the login
/// name, else the user id's name.
func operatorName(_ environment: [String: String]) -> String {
    for key in ["SUDO_USER", "LOGNAME", "USER"] {
        if let name = environment[key], !name.trimmingWhitespaceAndNewlines().isEmpty { return name }
    }
    if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
    return "uid \(getuid())"
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
            var fields: [(String, String)] = [
                ("trade_no", session.tradeNo.rawValue), ("state", session.state.rawValue),
                ("vend_id", session.vendID.rawValue), ("product", session.product.rawValue),
                ("item_description", session.itemDescription), ("price", session.price.description),
                ("reference", session.reference?.rawValue ?? "-"),
                ("provider_invoice_id", session.providerInvoiceID ?? "-"), ("qr_payload", session.qrPayload ?? "-"),
                ("created_at", session.createdAt.journalISO8601), ("updated_at", session.updatedAt.journalISO8601),
                ("payment_deadline", session.paymentDeadline?.journalISO8601 ?? "-"),
                ("paid_at", session.paidAt?.journalISO8601 ?? "-"), ("note", session.note ?? "-"),
            ]
            if let resolution = try journal.resolution(tradeNo: session.tradeNo) {
                fields += [
                    ("resolved_at", resolution.resolvedAt.journalISO8601), ("resolved_by", resolution.resolvedBy),
                    ("resolution_note", resolution.note),
                ]
            } else if session.state.isOperatorSettleable {
                fields.append(("resolved_at", "open: settle it, then `journal resolve \(session.tradeNo)`"))
            }
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
            abstract: "Lists paid sessions that were not dispensed and no operator has resolved: refund these by hand.",
            discussion: """
                Each refund due shows what the DripPay dashboard needs: the invoice reference, the provider
                invoice id, the trade_no, the customer reference the machine's screen showed (what a customer
                quotes), the amount and when it was paid, and why the vend did not happen.
                Sessions whose dispense outcome is unknown are listed after them: check the machine before refunding.
                Then unresolved sessions: the API could not tell within the settling budget whether their invoice
                was paid or cancelled; check each at the API.
                Once settled, record it with `drippay-kiosk journal resolve TRADE_NO --note "..."`: it leaves this
                list (`--all` shows it again, with who resolved it, when and the note).
                """)

        @OptionGroup var location: JournalLocation

        @Flag(name: .long, help: "Also list resolved sessions, with their resolution.")
        var all = false

        func run() async throws {
            let journal = try location.open()
            defer { journal.close() }
            let sessions = try journal.auditSessions(includingResolved: all)
            let resolutions = try all ? journal.resolutions(of: sessions) : [:]
            var header = [
                "REFERENCE", "PROVIDER_INVOICE_ID", "TRADE_NO", "CUSTOMER_REFERENCE", "AMOUNT", "CURRENCY", "PAID_AT",
                "REASON",
            ]
            if all { header += ["RESOLVED_AT", "RESOLVED_BY", "RESOLUTION"] }
            var blocks: [String] = []
            for state in SessionState.operatorSettleable {
                let listed = sessions.filter { $0.state == state }
                let rows = listed.map { session -> [String] in
                    var row = [
                        session.reference?.rawValue ?? "-", session.providerInvoiceID ?? "-",
                        session.tradeNo.rawValue, session.tradeNo.customerReference.text, session.price.decimalString,
                        session.price.currency.code,
                        session.paidAt?.journalShort ?? "-", session.note ?? "-",
                    ]
                    if all {
                        let resolution = resolutions[session.tradeNo]
                        row += [
                            resolution?.resolvedAt.journalShort ?? "open", resolution?.resolvedBy ?? "-",
                            resolution?.note ?? "-",
                        ]
                    }
                    return row
                }
                let title = Self.title(state, count: listed.count, all: all)
                if listed.isEmpty {
                    // The refunds line is always there, so an empty list reads as "nothing owed".
                    if state == .refundDue { blocks.append(title) }
                } else {
                    blocks.append(title + "\n" + formatTable(header, rows))
                }
            }
            print(blocks.joined(separator: "\n\n"))
        }

        /// The heading of one audit state's block.
        static func title(_ state: SessionState, count: Int, all: Bool) -> String {
            let which = all ? "" : "open, "
            switch state {
            case .refundDue:
                return count == 0
                    ? (all ? "No refunds due." : "No refunds due (open).") : "Refunds due (\(which)\(count)):"
            case .dispenseUnknown:
                return "Dispense outcome unknown (\(which)\(count)): check the machine; refund if nothing came out."
            case .unresolved:
                return "Unresolved (\(which)\(count)): the API could not tell what became of the invoice; look the "
                    + "reference (or trade_no) up in the DripPay dashboard, cancel it if pending, refund it if paid."
            default:
                return "\(state.rawValue) (\(which)\(count)):"
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Records that an operator settled a refund due or a dispense unknown.",
            discussion: """
                For a session listed by `journal refunds`, once the customer was refunded (or the machine
                was checked and the product had come out). Writes one row beside the session, never changes
                the session itself; a resolution is final and cannot be resolved again. The session leaves
                `journal refunds` (`--all` shows it with the resolution) and the open-audit metric.
                Needs write access to the journal (on a board: as root). Safe while the daemon runs.
                Example:
                  drippay-kiosk journal resolve VVM-005-20261125T101530Z-000042 \\
                      --note "refunded 1.50 USD by phone, ticket 4711" --by alice --journal ...
                """)

        @OptionGroup var location: JournalLocation

        @Argument(help: "The session's trade_no (see `journal refunds`).")
        var tradeNo: String

        @Option(
            name: .long, help: ArgumentHelp("What was done (required), e.g. how it was refunded.", valueName: "text"))
        var note: String

        @Option(
            name: .long,
            help: ArgumentHelp("Who settled it (default: the login name, or SUDO_USER under sudo).", valueName: "name"))
        var by: String?

        func validate() throws {
            guard !note.trimmingWhitespaceAndNewlines().isEmpty else {
                throw ValidationError("--note must say what was done, e.g. --note \"refunded by phone\".")
            }
            if let by, by.trimmingWhitespaceAndNewlines().isEmpty {
                throw ValidationError("--by must name who settled it.")
            }
        }

        func run() async throws {
            let journal = try location.openForWriting()
            defer { journal.close() }
            let who = by ?? operatorName(ProcessInfo.processInfo.environment)
            let resolution = try journal.resolve(
                tradeNo: TradeNo(tradeNo), note: note.trimmingWhitespaceAndNewlines(), by: who, at: Date())
            print(
                "Resolved \(resolution.tradeNo) (\(resolution.state.rawValue)) at "
                    + "\(resolution.resolvedAt.journalISO8601) by \(resolution.resolvedBy): \(resolution.note)")
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
