import KioskCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
/// crash or power cut never loses a committed change (docs/money-safety.md, "The rules" and
/// "Crash recovery").
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
    let connection: Mutex<SQLiteConnection?>

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

    static func checkIntegrity(_ connection: SQLiteConnection, path: String) throws(JournalError) {
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
    static func requireJournalOrEmpty(_ connection: SQLiteConnection, path: String) throws(JournalError) {
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

    static func appliedMigrations(_ connection: SQLiteConnection) throws(SQLiteError) -> [String] {
        let exists = try connection.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
        guard !exists.isEmpty else { return [] }
        return try connection.query("SELECT identifier FROM schema_migrations ORDER BY rowid").compactMap {
            $0.string(0)
        }
    }

    static func migrate(_ connection: SQLiteConnection, path: String) throws {
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

    func withConnection<T: Sendable>(
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
}
