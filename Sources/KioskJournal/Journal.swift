#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KioskCore
import Synchronization

/// One line of a session's history: a state change or a note such as "poll failed".
public struct JournalEvent: Hashable, Sendable {
    /// Increasing across the whole journal; never reused.
    public let id: Int64
    public let tradeNo: TradeNo
    public let at: Date
    /// The session's state when the event was written.
    public let state: SessionState
    /// A short machine-readable kind, e.g. `invoice_created`, `poll_failed`.
    public let kind: String
    /// Free text for the operator.
    public let detail: String

    public init(id: Int64, tradeNo: TradeNo, at: Date, state: SessionState, kind: String, detail: String) {
        self.id = id
        self.tradeNo = tradeNo
        self.at = at
        self.state = state
        self.kind = kind
        self.detail = detail
    }
}

/// One state change for `Journal.update(steps:)`: the session as it is after the change and the
/// event that records it.
public struct JournalStep: Sendable {
    public var record: SessionRecord
    public var event: String
    public var detail: String

    public init(_ record: SessionRecord, event: String, detail: String) {
        self.record = record
        self.event = event
        self.detail = detail
    }
}

/// The daemon's only state: every vend session and its history in one SQLite file, written so that a
/// crash or power cut never loses a committed change (product.md sections 3 and 4).
///
/// Every write is one transaction that is durable when the call returns: WAL mode with
/// `synchronous=FULL` fsyncs the WAL at each commit. (The one exception is a note appended with
/// `durable: false`, for notes recovery never reads; see `appendEvent`.) Several state changes that
/// belong together go in one transaction (`insertNew`, `update(steps:)`): a vend is four commits. The daemon relies on that ordering: it journals
/// `dispensing` and only then sends `DISPENSE` on the serial line, so a restart can never dispense twice.
///
/// Why a `Mutex`-guarded class and not an actor: SQLite calls block (an fsync takes milliseconds),
/// and an actor would block a cooperative thread just the same, while adding suspension points and
/// reentrancy between "journal it" and "act on it". A synchronous call that returns only when the
/// change is on disk is the simplest contract to reason about. Callers in async code call it directly
/// (one short fsync per state change, a few per vend).
///
/// Times are stored as integer milliseconds (UTC): a `Date` round-trips exactly when it falls on a
/// whole millisecond, otherwise it comes back rounded to the nearest one.
public final class Journal: Sendable {
    /// The journal file.
    public let path: String
    /// The machine id trade numbers start with.
    public let machineID: String
    /// True when opened with `openReadOnly`: every write throws `JournalError.readOnly`.
    public let isReadOnly: Bool
    private let connection: Mutex<SQLiteConnection?>

    private init(path: String, machineID: String, isReadOnly: Bool, connection: sending SQLiteConnection) {
        self.path = path
        self.machineID = machineID
        self.isReadOnly = isReadOnly
        self.connection = Mutex(connection)
    }

    /// How hard a commit waits for the storage. Only `.full` is money-safe; `.normal` exists for
    /// filling large benchmark journals quickly.
    @_spi(Benchmarks)
    public enum Durability: String, Sendable {
        case full = "FULL"
        case normal = "NORMAL"
    }

    /// Opens (creating the file if missing) the daemon's journal, checks it and applies migrations.
    ///
    /// - Throws: `.directoryMissing` when the directory does not exist; `.corrupt` when the file is
    ///   not a database or fails `PRAGMA quick_check` (the file is left as it is, never replaced);
    ///   `.foreignDatabase`, `.newerSchema`, `.walUnavailable`, `.cannotOpen`.
    public static func open(path: String, machineID: String) throws(JournalError) -> Journal {
        try open(path: path, machineID: machineID, durability: .full)
    }

    @_spi(Benchmarks)
    public static func open(path: String, machineID: String, durability: Durability) throws(JournalError) -> Journal {
        try checkDirectory(of: path)
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: path, mode: .readWriteCreate)
            try connection.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
        } catch {
            throw .cannotOpen(path: path, error)
        }
        // Read-only check first: nothing below may write to a file we have not recognised.
        try checkIntegrity(connection, path: path)
        try requireJournalOrEmpty(connection, path: path)
        do {
            // Must precede the first CREATE TABLE to take effect; a no-op on an existing journal.
            try connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
            let mode = try connection.query("PRAGMA journal_mode = WAL").first?.string(0) ?? ""
            guard mode.lowercased() == "wal" else { throw JournalError.walUnavailable(path: path, journalMode: mode) }
            // FULL: each commit fsyncs the WAL before returning, so a journaled state change survives a
            // power cut before the daemon acts on it (NORMAL would only protect against a process crash).
            try connection.execute("PRAGMA synchronous = \(durability.rawValue)")
            connection.synchronous = durability.rawValue
            try connection.execute("PRAGMA foreign_keys = ON")
            // Keeps the WAL file from staying large after a burst of writes (SD card space).
            try connection.execute("PRAGMA journal_size_limit = \(walSizeLimitBytes)")
            try migrate(connection, path: path)
        } catch let error as JournalError {
            throw error
        } catch let error as SQLiteError {
            throw error.isCorruption ? .corrupt(path: path, detail: error.message) : .sqlite(error)
        } catch {
            throw .sqlite(SQLiteError(code: -1, message: "\(error)", sql: nil, path: path))
        }
        return Journal(path: path, machineID: machineID, isReadOnly: false, connection: connection)
    }

    /// Opens an existing journal without ever writing to it, for the `journal` command. Works while
    /// the daemon has it open for writing (WAL readers never block the writer).
    public static func openReadOnly(path: String) throws(JournalError) -> Journal {
        try checkDirectory(of: path)
        let connection: SQLiteConnection
        do {
            connection = try SQLiteConnection(path: path, mode: .readOnly)
            try connection.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
        } catch {
            throw .cannotOpen(path: path, error)
        }
        try checkIntegrity(connection, path: path)
        try requireJournalOrEmpty(connection, path: path)
        let applied: [String]
        do {
            applied = try appliedMigrations(connection)
        } catch {
            throw error.isCorruption ? .corrupt(path: path, detail: error.message) : .sqlite(error)
        }
        let known = JournalSchema.migrations.map(\.identifier)
        let unknown = applied.filter { !known.contains($0) }
        if !unknown.isEmpty { throw .newerSchema(path: path, unknownMigrations: unknown) }
        let missing = known.filter { !applied.contains($0) }
        if !missing.isEmpty { throw .schemaNotCurrent(path: path, missingMigrations: missing) }
        return Journal(path: path, machineID: "", isReadOnly: true, connection: connection)
    }

    /// Closes the file. Later calls throw `.closed`. Closing the last connection checkpoints the WAL.
    public func close() {
        connection.withLock { connection in
            connection?.close()
            connection = nil
        }
    }

    // MARK: Opening

    static let busyTimeoutMilliseconds: Int32 = 5000
    static let walSizeLimitBytes = 4 * 1024 * 1024

    /// Throws `.directoryMissing` when the journal's directory does not exist (nothing is created).
    public static func checkDirectory(of path: String) throws(JournalError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard FileStatus.isDirectory(directory) else {
            throw .directoryMissing(path: path, directory: directory)
        }
    }

    private static func checkIntegrity(_ connection: SQLiteConnection, path: String) throws(JournalError) {
        let rows: [SQLiteRow]
        do {
            rows = try connection.query("PRAGMA quick_check")
        } catch {
            throw error.isCorruption ? .corrupt(path: path, detail: error.message) : .cannotOpen(path: path, error)
        }
        let messages = rows.compactMap { $0.string(0) }
        guard messages == ["ok"] else {
            throw .corrupt(path: path, detail: "quick_check: " + messages.prefix(3).joined(separator: "; "))
        }
    }

    /// Refuses a database that has tables but is not a journal (a wrong path must not get our tables).
    private static func requireJournalOrEmpty(_ connection: SQLiteConnection, path: String) throws(JournalError) {
        let tables: [String]
        do {
            tables = try connection.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).compactMap { $0.string(0) }
        } catch {
            throw error.isCorruption ? .corrupt(path: path, detail: error.message) : .cannotOpen(path: path, error)
        }
        if !tables.isEmpty && !tables.contains("schema_migrations") {
            throw .foreignDatabase(path: path, tables: tables)
        }
    }

    private static func appliedMigrations(_ connection: SQLiteConnection) throws(SQLiteError) -> [String] {
        let exists = try connection.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        guard !exists.isEmpty else { return [] }
        return try connection.query("SELECT identifier FROM schema_migrations ORDER BY rowid").compactMap {
            $0.string(0)
        }
    }

    private static func migrate(_ connection: SQLiteConnection, path: String) throws {
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                identifier TEXT PRIMARY KEY NOT NULL,
                applied_at INTEGER NOT NULL
            )
            """)
        let applied = try appliedMigrations(connection)
        let known = JournalSchema.migrations.map(\.identifier)
        let unknown = applied.filter { !known.contains($0) }
        if !unknown.isEmpty { throw JournalError.newerSchema(path: path, unknownMigrations: unknown) }
        for migration in JournalSchema.migrations where !applied.contains(migration.identifier) {
            try connection.transaction {
                try connection.execute(migration.sql)
                try connection.run(
                    "INSERT INTO schema_migrations (identifier, applied_at) VALUES (?, ?)",
                    [.text(migration.identifier), .integer(JournalTime.milliseconds(Date()))])
            }
        }
    }

    // MARK: Access

    private func withConnection<T: Sendable>(
        writing: Bool, _ body: (SQLiteConnection) throws -> T
    ) throws(JournalError) -> T {
        if writing && isReadOnly { throw .readOnly(path: path) }
        let path = self.path
        let result: Result<T, JournalError> = connection.withLock { connection in
            guard let connection else { return .failure(.closed(path: path)) }
            do {
                return .success(try body(connection))
            } catch let error as JournalError {
                return .failure(error)
            } catch let error as SQLiteError {
                return .failure(error.isCorruption ? .corrupt(path: path, detail: error.message) : .sqlite(error))
            } catch {
                return .failure(.sqlite(SQLiteError(code: -1, message: "\(error)", sql: nil, path: path)))
            }
        }
        return try result.get()
    }

    /// The connection's `PRAGMA synchronous` now (2 = FULL): tests check a note written without
    /// fsync puts FULL back.
    func synchronousLevel() throws(JournalError) -> Int64? {
        try withConnection(writing: false) { try $0.query("PRAGMA synchronous").first?.int64(0) }
    }

    /// Write transactions and durable commits since this journal was opened.
    public var statistics: JournalStatistics {
        connection.withLock { $0?.statistics ?? JournalStatistics() }
    }

    /// Bytes on disk: the database file plus its write-ahead log.
    public func fileSizeBytes() -> Int64 {
        [path, path + "-wal"].reduce(Int64(0)) { total, file in
            total + (FileStatus.size(file) ?? 0)
        }
    }

    // MARK: Trade numbers

    /// A new trade number, unique for this journal: `VVM-005-20261125T101530Z-000042`.
    ///
    /// The counter lives in the journal and only grows (durably), so numbers never repeat across
    /// restarts or when the clock jumps back; the time is there for people. At most 64 characters of
    /// `[A-Za-z0-9_-]`: the machine id is cut to 24 characters, other characters become `-`.
    public func nextTradeNo(now: Date) throws(JournalError) -> TradeNo {
        try withConnection(writing: true) { connection in
            try connection.transaction { try self.takeTradeNo(connection, now: now) }
        }
    }

    /// Bumps the trade_no counter inside the caller's transaction.
    private func takeTradeNo(_ connection: SQLiteConnection, now: Date) throws -> TradeNo {
        let rows = try connection.query("UPDATE trade_no_counter SET last = last + 1 WHERE id = 1 RETURNING last")
        guard let counter = rows.first?.int64(0) else {
            throw SQLiteError(code: 1, message: "trade_no_counter has no row", sql: nil, path: path)
        }
        let digits = String(counter)
        let padded = String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        return TradeNo("\(Self.tradeNoPrefix(machineID))-\(JournalTime.compact(now))-\(padded)")
    }

    /// A new session under a new trade number, in ONE durable transaction: the counter bump, the
    /// session row and its first event. `make` builds the record for the trade number (it must
    /// carry it). Nothing is written when it throws; a trade number taken by a rolled-back
    /// transaction is handed out again, which is harmless because nothing used it.
    public func insertNew(
        now: Date, event kind: String, detail: String, _ make: (TradeNo) -> SessionRecord
    ) throws(JournalError) -> SessionRecord {
        try withConnection(writing: true) { connection in
            try connection.transaction {
                let tradeNo = try self.takeTradeNo(connection, now: now)
                let record = make(tradeNo)
                precondition(record.tradeNo == tradeNo, "insertNew: the record must carry the new trade number")
                try self.insertRows(connection, record, event: kind, detail: detail)
                return record
            }
        }
    }

    /// Reserves `count` new MDB vend numbers (durably, in one write): the returned range was
    /// never handed out before and never will be again, whatever the clock does. Numbers left
    /// unused when the daemon stops are simply skipped.
    public func reserveVendNumbers(_ count: Int) throws(JournalError) -> ClosedRange<Int64> {
        precondition(count > 0, "reserve at least one vend number")
        let last = try withConnection(writing: true) { connection in
            try connection.transaction {
                let rows = try connection.query(
                    "UPDATE mdb_vend_counter SET last = last + \(count) WHERE id = 1 RETURNING last")
                guard let value = rows.first?.int64(0) else {
                    throw SQLiteError(code: 1, message: "mdb_vend_counter has no row", sql: nil, path: self.path)
                }
                return value
            }
        }
        return (last - Int64(count) + 1)...last
    }

    static func tradeNoPrefix(_ machineID: String) -> String {
        let allowed = machineID.unicodeScalars.prefix(24).map { scalar -> Character in
            let isAllowed = scalar.isASCII
                && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_" || scalar == "-")
            return isAllowed ? Character(scalar) : "-"
        }
        return allowed.isEmpty ? "kiosk" : String(allowed)
    }

    // MARK: Writes

    private static let sessionColumns = """
        trade_no, vend_id, product, item_description, price_minor, currency, minor_digits, state, reference, \
        provider_invoice_id, qr_payload, created_at, updated_at, payment_deadline, paid_at, note
        """

    private static func binds(_ record: SessionRecord) -> [SQLiteValue] {
        [
            .text(record.tradeNo.rawValue), .text(record.vendID.rawValue), .text(record.product.rawValue),
            .text(record.itemDescription), .integer(record.price.minorUnits), .text(record.price.currency.code),
            .integer(Int64(record.price.currency.minorDigits)), .text(record.state.rawValue),
            optional(record.reference?.rawValue), optional(record.providerInvoiceID), optional(record.qrPayload),
            .integer(JournalTime.milliseconds(record.createdAt)), .integer(JournalTime.milliseconds(record.updatedAt)),
            optional(record.paymentDeadline.map(JournalTime.milliseconds)),
            optional(record.paidAt.map(JournalTime.milliseconds)), optional(record.note),
        ]
    }

    private static func optional(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }
    private static func optional(_ number: Int64?) -> SQLiteValue { number.map { .integer($0) } ?? .null }

    private static let insertEventSQL =
        "INSERT INTO session_events (trade_no, at, state, kind, detail) VALUES (?, ?, ?, ?, ?)"

    /// Journals a new session and its first event in one transaction, durable on return.
    /// - Throws: `.duplicateTradeNo` when the trade number exists (nothing is written).
    public func insert(_ record: SessionRecord, event kind: String, detail: String) throws(JournalError) {
        try withConnection(writing: true) { connection in
            try connection.transaction { try self.insertRows(connection, record, event: kind, detail: detail) }
        }
    }

    private func insertRows(_ connection: SQLiteConnection, _ record: SessionRecord, event kind: String, detail: String)
        throws
    {
        let existing = try connection.query(
            "SELECT 1 FROM sessions WHERE trade_no = ?", [.text(record.tradeNo.rawValue)])
        guard existing.isEmpty else { throw JournalError.duplicateTradeNo(record.tradeNo, path: path) }
        let placeholders = Array(repeating: "?", count: 16).joined(separator: ", ")
        try connection.run(
            "INSERT INTO sessions (\(Self.sessionColumns)) VALUES (\(placeholders))", Self.binds(record))
        try connection.run(
            Self.insertEventSQL,
            [
                .text(record.tradeNo.rawValue), .integer(JournalTime.milliseconds(record.updatedAt)),
                .text(record.state.rawValue), .text(kind), .text(detail),
            ])
    }

    /// Writes a session's new state and appends its event in one transaction, durable on return.
    ///
    /// - Throws: `.unknownSession`; `.finalSessionImmutable` when the stored session is final;
    ///   `.transitionRefused` for a move that breaks a money-safety rule (see `checkTransition`);
    ///   `.identityChanged` when vend id, product, price or creation time differ from the stored ones.
    public func update(_ record: SessionRecord, event kind: String, detail: String) throws(JournalError) {
        try update(steps: [JournalStep(record, event: kind, detail: detail)])
    }

    /// Several state changes of sessions in ONE durable transaction, applied in order, each
    /// checked against the one before it exactly as `update` checks it (so `paid` then
    /// `dispensing` is accepted, `dispensing` alone from `invoiced` is not). Either every step is
    /// written or none: a crash leaves the journal before the first or after the last.
    public func update(steps: [JournalStep]) throws(JournalError) {
        guard !steps.isEmpty else { return }
        try withConnection(writing: true) { connection in
            try connection.transaction {
                for step in steps { try self.updateRows(connection, step.record, event: step.event, detail: step.detail) }
            }
        }
    }

    private func updateRows(_ connection: SQLiteConnection, _ record: SessionRecord, event kind: String, detail: String)
        throws
    {
        let rows = try connection.query(
            "SELECT \(Self.sessionColumns) FROM sessions WHERE trade_no = ?", [.text(record.tradeNo.rawValue)])
        guard let row = rows.first else { throw JournalError.unknownSession(record.tradeNo, path: path) }
        let stored = try Self.record(from: row, path: path)
        try Self.checkTransition(from: stored, to: record, path: path)
        try connection.run(
            """
            UPDATE sessions SET item_description = ?, state = ?, reference = ?, provider_invoice_id = ?,
                qr_payload = ?, updated_at = ?, payment_deadline = ?, paid_at = ?, note = ?
            WHERE trade_no = ?
            """,
            [
                .text(record.itemDescription), .text(record.state.rawValue),
                Self.optional(record.reference?.rawValue), Self.optional(record.providerInvoiceID),
                Self.optional(record.qrPayload), .integer(JournalTime.milliseconds(record.updatedAt)),
                Self.optional(record.paymentDeadline.map(JournalTime.milliseconds)),
                Self.optional(record.paidAt.map(JournalTime.milliseconds)), Self.optional(record.note),
                .text(record.tradeNo.rawValue),
            ])
        try connection.run(
            Self.insertEventSQL,
            [
                .text(record.tradeNo.rawValue), .integer(JournalTime.milliseconds(record.updatedAt)),
                .text(record.state.rawValue), .text(kind), .text(detail),
            ])
    }

    /// The money-safety rules a state change must keep (product.md section 3):
    /// a final session never changes; no going back along requested -> invoiced -> paid -> dispensing;
    /// `dispensing` only from `paid` (only a payment authorises a dispense); `dispensed` and
    /// `dispense_unknown` only from `dispensing`; a paid session ends only as dispensed, refund due or
    /// dispense unknown (a paid invoice is never forgotten). Staying in the same state is allowed.
    /// The invoice reference, once journaled, never changes (no orphan invoices).
    static func checkTransition(from stored: SessionRecord, to record: SessionRecord, path: String) throws(JournalError) {
        let from = stored.state
        let to = record.state
        let tradeNo = record.tradeNo
        if from.isFinal {
            throw .finalSessionImmutable(tradeNo, state: from, attempted: to, path: path)
        }
        func refuse(_ rule: String) -> JournalError {
            .transitionRefused(tradeNo, from: from, to: to, rule: rule, path: path)
        }
        if from != to {
            let order: [SessionState] = [.requested, .invoiced, .paid, .dispensing]
            if let fromRank = order.firstIndex(of: from), let toRank = order.firstIndex(of: to), toRank < fromRank {
                throw refuse("a session never goes back")
            }
            if to == .dispensing && from != .paid {
                throw refuse("only a paid session may be dispensed")
            }
            if (to == .dispensed || to == .dispenseUnknown) && from != .dispensing {
                throw refuse("the dispense decision must be journaled first, as dispensing")
            }
            if (from == .paid || from == .dispensing) && (to == .cancelled || to == .failed) {
                throw refuse("a paid session ends as dispensed, refund_due or dispense_unknown")
            }
        }
        if stored.vendID != record.vendID { throw .identityChanged(tradeNo, field: "vend_id", path: path) }
        if stored.product != record.product { throw .identityChanged(tradeNo, field: "product", path: path) }
        if stored.price != record.price { throw .identityChanged(tradeNo, field: "price", path: path) }
        // Rule 4: the journaled invoice is the one recovery cancels or settles; replacing or
        // dropping it would orphan an invoice that may be paid.
        if let reference = stored.reference, record.reference != reference {
            throw .identityChanged(tradeNo, field: "reference", path: path)
        }
        if JournalTime.milliseconds(stored.createdAt) != JournalTime.milliseconds(record.createdAt) {
            throw .identityChanged(tradeNo, field: "created_at", path: path)
        }
    }

    /// A durable write of one probe row (a real commit: a WAL frame and its fsync), so it fails
    /// the way a session write would on a full, read-only or failing card.
    public func probeWrite(at: Date = Date()) throws(JournalError) {
        try withConnection(writing: true) { connection in
            try connection.transaction {
                _ = try connection.run(
                    "UPDATE write_probe SET count = count + 1, at = ? WHERE id = 1",
                    [.integer(JournalTime.milliseconds(at))])
            }
        }
    }

    /// Appends an event without changing the session (e.g. `poll_failed`), durable on return.
    /// Also allowed on final sessions: the history of a refund may grow.
    ///
    /// `durable: false` commits it without an fsync of its own (`synchronous=NORMAL`): a power cut
    /// may lose this row (a process crash does not), and the next durable commit makes it durable.
    /// Only for notes whose loss is harmless on recovery (recovery reads sessions, never events).
    public func appendEvent(tradeNo: TradeNo, kind: String, detail: String, at: Date, durable: Bool = true)
        throws(JournalError)
    {
        try withConnection(writing: true) { connection in
            try connection.transaction(durable: durable) {
                let rows = try connection.query(
                    "SELECT state FROM sessions WHERE trade_no = ?", [.text(tradeNo.rawValue)])
                guard let state = rows.first?.string(0) else {
                    throw JournalError.unknownSession(tradeNo, path: self.path)
                }
                try connection.run(
                    Self.insertEventSQL,
                    [
                        .text(tradeNo.rawValue), .integer(JournalTime.milliseconds(at)), .text(state), .text(kind),
                        .text(detail),
                    ])
            }
        }
    }

    /// States `prune` deletes. `refund_due` and `dispense_unknown` are kept for ever: an operator
    /// still owes the customer money or an audit.
    static let prunableStates: [SessionState] = [.dispensed, .cancelled, .failed]

    /// Deletes sessions (and their events) that ended as dispensed, cancelled or failed with their last
    /// change before `finishedBefore`, then returns the freed pages to the file system so the file
    /// stays bounded on an SD card. Never deletes open, `refund_due` or `dispense_unknown` sessions.
    /// - Returns: the number of sessions deleted.
    @discardableResult
    public func prune(finishedBefore cutoff: Date) throws(JournalError) -> Int {
        try withConnection(writing: true) { connection in
            let placeholders = Self.prunableStates.map { _ in "?" }.joined(separator: ", ")
            let deleted = try connection.transaction {
                try connection.run(
                    "DELETE FROM sessions WHERE state IN (\(placeholders)) AND updated_at < ?",
                    Self.prunableStates.map { SQLiteValue.text($0.rawValue) } + [SQLiteValue.integer(JournalTime.milliseconds(cutoff))])
            }
            if deleted > 0 {
                // Moves free pages to the end; the file shrinks when the WAL is checkpointed below.
                try connection.execute("PRAGMA incremental_vacuum")
            }
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return deleted
        }
    }

    // MARK: Reads

    /// A `sessions` row, read by column name (`sessionColumns`), never by position.
    private static func record(from row: SQLiteRow, path: String) throws(JournalError) -> SessionRecord {
        let tradeNoText = row.string("trade_no") ?? ""
        func invalid(_ column: String) -> JournalError {
            .invalidRow(path: path, tradeNo: tradeNoText, column: column, value: row.string(column) ?? "NULL")
        }
        func time(_ column: String) -> Date? { row.int64(column).map(JournalTime.date(milliseconds:)) }
        guard let vendText = row.string("vend_id"), let vendID = VendID(vendText) else { throw invalid("vend_id") }
        guard let productText = row.string("product"), let product = ProductCode(productText) else {
            throw invalid("product")
        }
        guard let description = row.string("item_description") else { throw invalid("item_description") }
        guard let minor = row.int64("price_minor") else { throw invalid("price_minor") }
        guard let code = row.string("currency") else { throw invalid("currency") }
        guard let digits = row.int64("minor_digits") else { throw invalid("minor_digits") }
        guard let stateText = row.string("state"), let state = SessionState(rawValue: stateText) else {
            throw invalid("state")
        }
        guard let createdAt = time("created_at") else { throw invalid("created_at") }
        guard let updatedAt = time("updated_at") else { throw invalid("updated_at") }
        return SessionRecord(
            tradeNo: TradeNo(tradeNoText), vendID: vendID, product: product, itemDescription: description,
            price: Money(minorUnits: minor, currency: Currency(code: code, minorDigits: Int(digits))), state: state,
            reference: row.string("reference").map(InvoiceReference.init), providerInvoiceID: row.string("provider_invoice_id"),
            qrPayload: row.string("qr_payload"), createdAt: createdAt, updatedAt: updatedAt,
            paymentDeadline: time("payment_deadline"), paidAt: time("paid_at"), note: row.string("note"))
    }

    private func sessions(where clause: String, _ binds: [SQLiteValue], orderBy: String, limit: Int? = nil,
                          offset: Int = 0) throws(JournalError) -> [SessionRecord] {
        try withConnection(writing: false) { connection in
            var sql = "SELECT \(Self.sessionColumns) FROM sessions WHERE \(clause) ORDER BY \(orderBy)"
            var allBinds = binds
            if let limit {
                sql += " LIMIT ? OFFSET ?"
                allBinds += [.integer(Int64(limit)), .integer(Int64(offset))]
            }
            return try connection.query(sql, allBinds).map { row throws(JournalError) in
                try Self.record(from: row, path: self.path)
            }
        }
    }

    /// The session with this trade number, or nil.
    public func session(tradeNo: TradeNo) throws(JournalError) -> SessionRecord? {
        try sessions(where: "trade_no = ?", [.text(tradeNo.rawValue)], orderBy: "id").first
    }

    /// The most recently created session for this controller vend id, or nil (duplicate `VEND` check).
    public func latestSession(vendID: VendID) throws(JournalError) -> SessionRecord? {
        try sessions(where: "vend_id = ?", [.text(vendID.rawValue)], orderBy: "created_at DESC, id DESC", limit: 1)
            .first
    }

    /// Sessions not yet in a final state, oldest first: what crash recovery settles at start.
    public func openSessions() throws(JournalError) -> [SessionRecord] {
        let open = SessionState.allCases.filter { !$0.isFinal }
        return try sessions(
            where: "state IN (\(open.map { _ in "?" }.joined(separator: ", ")))", open.map { .text($0.rawValue) },
            orderBy: "created_at, id")
    }

    /// Sessions newest first, optionally only those in `states` (empty: all).
    public func sessions(limit: Int, offset: Int = 0, states: [SessionState] = []) throws(JournalError)
        -> [SessionRecord]
    {
        let clause = states.isEmpty ? "1" : "state IN (\(states.map { _ in "?" }.joined(separator: ", ")))"
        return try sessions(
            where: clause, states.map { .text($0.rawValue) }, orderBy: "created_at DESC, id DESC", limit: limit,
            offset: offset)
    }

    /// Sessions that were paid but not dispensed: an operator must refund them by hand. Oldest first.
    public func refundsDue() throws(JournalError) -> [SessionRecord] {
        try sessions(where: "state = ?", [.text(SessionState.refundDue.rawValue)], orderBy: "updated_at, id")
    }

    /// Every event of a session, in the order written.
    public func events(tradeNo: TradeNo) throws(JournalError) -> [JournalEvent] {
        let path = self.path
        return try withConnection(writing: false) { connection in
            try connection.query(
                "SELECT id, trade_no, at, state, kind, detail FROM session_events WHERE trade_no = ? ORDER BY id",
                [.text(tradeNo.rawValue)]
            ).map { row throws(JournalError) -> JournalEvent in
                guard let stateText = row.string("state"), let state = SessionState(rawValue: stateText) else {
                    throw .invalidRow(path: path, tradeNo: tradeNo.rawValue, column: "session_events.state",
                                      value: row.string("state") ?? "NULL")
                }
                return JournalEvent(
                    id: row.int64("id") ?? 0, tradeNo: tradeNo,
                    at: JournalTime.date(milliseconds: row.int64("at") ?? 0),
                    state: state, kind: row.string("kind") ?? "", detail: row.string("detail") ?? "")
            }
        }
    }

    /// How many sessions are in `state`. Reads the state index only, so the daemon can refresh
    /// its refunds-due gauge after every vend without scanning the whole journal.
    public func count(state: SessionState) throws(JournalError) -> Int {
        try withConnection(writing: false) { connection in
            let rows = try connection.query("SELECT count(*) FROM sessions WHERE state = ?", [.text(state.rawValue)])
            return Int(rows.first?.int64(0) ?? 0)
        }
    }

    /// How many sessions are in each state (every state present, zero included).
    public func counts() throws(JournalError) -> [SessionState: Int] {
        let path = self.path
        return try withConnection(writing: false) { connection in
            var counts = Dictionary(uniqueKeysWithValues: SessionState.allCases.map { ($0, 0) })
            for row in try connection.query("SELECT state, count(*) AS n FROM sessions GROUP BY state") {
                guard let text = row.string("state"), let state = SessionState(rawValue: text) else {
                    throw JournalError.invalidRow(path: path, tradeNo: "?", column: "state", value: row.string("state") ?? "NULL")
                }
                counts[state] = Int(row.int64("n") ?? 0)
            }
            return counts
        }
    }
}
