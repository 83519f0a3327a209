// The only file in KioskJournal that sees libsqlite3's C types.
import CSQLite

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A failed SQLite call: the SQLite result code, SQLite's message, the SQL being run and the file.
public struct SQLiteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The extended result code (e.g. 11 = SQLITE_CORRUPT, 26 = SQLITE_NOTADB, 2067 = unique constraint).
    public let code: Int32
    /// What SQLite said (`sqlite3_errmsg`), or the generic text for the code.
    public let message: String
    /// The statement that failed, when there was one.
    public let sql: String?
    /// The database file.
    public let path: String
    /// The OS error behind an I/O failure (`sqlite3_system_errno`: ENOSPC, EROFS, EFBIG, EIO), or 0.
    public var systemErrno: Int32 = 0

    public init(code: Int32, message: String, sql: String?, path: String, systemErrno: Int32 = 0) {
        self.code = code
        self.message = message
        self.sql = sql
        self.path = path
        self.systemErrno = systemErrno
    }

    /// The primary result code (the low byte of the extended code).
    public var primaryCode: Int32 { code & 0xFF }

    /// True when SQLite says the file is damaged or is not a database at all.
    public var isCorruption: Bool { primaryCode == SQLITE_CORRUPT || primaryCode == SQLITE_NOTADB }

    public var description: String {
        let name = String(cString: sqlite3_errstr(code))
        var text = "\(path): SQLite error \(code) (\(name)): \(message)"
        if systemErrno != 0 { text += " (OS error \(systemErrno): \(String(cString: strerror(systemErrno))))" }
        if let sql { text += " [while running: \(sql)]" }
        return text
    }
}

/// One value bound to or read from a statement. Money and times are integers, never floats.
enum SQLiteValue: Hashable, Sendable {
    case integer(Int64)
    case text(String)
    case null
}

/// The column names of one statement's result, shared by all its rows.
final class SQLiteColumns: Sendable {
    let indexByName: [String: Int]

    init(_ names: [String]) {
        var indexByName: [String: Int] = [:]
        for (index, name) in names.enumerated() where indexByName[name] == nil { indexByName[name] = index }
        self.indexByName = indexByName
    }
}

/// One result row, copied out of SQLite so that no C pointer outlives the step.
struct SQLiteRow: Sendable {
    let values: [SQLiteValue]
    let columns: SQLiteColumns

    func int64(_ index: Int) -> Int64? {
        if case .integer(let value) = values[index] { return value }
        return nil
    }

    /// The value of the column named `name` (as the SELECT names it); nil for NULL or a column
    /// the statement does not have.
    func int64(_ name: String) -> Int64? { columns.indexByName[name].flatMap { int64($0) } }

    func string(_ name: String) -> String? { columns.indexByName[name].flatMap { string($0) } }

    func string(_ index: Int) -> String? {
        switch values[index] {
        case .text(let value): return value
        case .integer(let value): return String(value)
        case .null: return nil
        }
    }
}

/// How a connection opens its file.
enum SQLiteOpenMode: Sendable {
    /// Read and write; the file is created if missing (the directory must exist).
    case readWriteCreate
    /// Read only: never writes the database file (the WAL index may still be mapped).
    case readOnly
}

/// Counts of write transactions, for the benchmark and metrics.
public struct JournalStatistics: Hashable, Sendable {
    /// Write transactions committed (`BEGIN IMMEDIATE` ... `COMMIT`).
    public var writeTransactions: Int = 0
    /// Commits that changed at least one row: each appends a commit frame to the WAL and, with
    /// `synchronous=FULL`, waits for an fsync of the WAL before returning.
    public var durableCommits: Int = 0
    /// Commits that changed rows with `synchronous=NORMAL` (no fsync of their own; see
    /// `SQLiteConnection.transaction(durable:)`).
    public var nonDurableCommits: Int = 0

    public init(writeTransactions: Int = 0, durableCommits: Int = 0, nonDurableCommits: Int = 0) {
        self.writeTransactions = writeTransactions
        self.durableCommits = durableCommits
        self.nonDurableCommits = nonDurableCommits
    }
}

/// A prepared statement, finalized when the connection drops it.
private final class SQLiteStatement {
    let handle: OpaquePointer
    let sql: String

    init(handle: OpaquePointer, sql: String) {
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }
}

/// A thin wrapper over one `sqlite3*` handle. Not thread-safe by itself: the `Journal` owns it
/// behind a `Mutex`, so exactly one thread uses it at a time (SQLite's multi-thread mode).
final class SQLiteConnection {
    let path: String
    let mode: SQLiteOpenMode
    private var handle: OpaquePointer?
    /// Prepared statements by SQL text: the journal runs the same few statements for ever.
    private var statements: [String: SQLiteStatement] = [:]
    private(set) var statistics = JournalStatistics()
    /// The `PRAGMA synchronous` level the journal opened with; a non-durable transaction lowers it
    /// to NORMAL for its own commit only and puts this back.
    var synchronous = "FULL"

    init(path: String, mode: SQLiteOpenMode) throws(SQLiteError) {
        self.path = path
        self.mode = mode
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        switch mode {
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let code = db.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(db)
            throw SQLiteError(code: code, message: message, sql: nil, path: path)
        }
        // SQLite silently falls back to read-only for a write-protected file; the daemon must not.
        if mode == .readWriteCreate && sqlite3_db_readonly(db, "main") == 1 {
            sqlite3_close_v2(db)
            throw SQLiteError(
                code: SQLITE_READONLY, message: "the file is not writable by this user", sql: nil, path: path)
        }
        handle = db
    }

    deinit { close() }

    /// Finalizes every statement and closes the handle. Idempotent.
    func close() {
        statements.removeAll()
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    var isOpen: Bool { handle != nil }

    private func db() throws(SQLiteError) -> OpaquePointer {
        guard let handle else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "the connection is closed", sql: nil, path: path)
        }
        return handle
    }

    /// The OS error behind an I/O or full-storage failure: SQLite's own record of it, else the
    /// `errno` the failing call left (a successful system call never clears it).
    static func systemErrno(_ handle: OpaquePointer?, code: Int32, errno osErrno: Int32) -> Int32 {
        let primary = code & 0xFF
        guard
            primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_READONLY
                || primary == SQLITE_CANTOPEN
        else { return 0 }
        let recorded = handle.map { sqlite3_system_errno($0) } ?? 0
        return recorded != 0 ? recorded : osErrno
    }

    private func error(_ rc: Int32, sql: String?) -> SQLiteError {
        let osErrno = errno
        guard let handle else {
            return SQLiteError(code: rc, message: String(cString: sqlite3_errstr(rc)), sql: sql, path: path)
        }
        let extended = sqlite3_extended_errcode(handle)
        let system = Self.systemErrno(handle, code: extended, errno: osErrno)
        // The handle's code is the last failure's; when it does not match `rc` use the generic text.
        if extended & 0xFF == rc & 0xFF {
            return SQLiteError(
                code: extended, message: String(cString: sqlite3_errmsg(handle)), sql: sql, path: path,
                systemErrno: system)
        }
        return SQLiteError(
            code: rc, message: String(cString: sqlite3_errstr(rc)), sql: sql, path: path, systemErrno: system)
    }

    /// Sets how long a writer waits for another connection's lock before failing with SQLITE_BUSY.
    func setBusyTimeout(milliseconds: Int32) throws(SQLiteError) {
        let rc = sqlite3_busy_timeout(try db(), milliseconds)
        guard rc == SQLITE_OK else { throw error(rc, sql: nil) }
    }

    /// Runs one or more statements that return no rows we need (pragmas, DDL).
    func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(try db(), sql, nil, nil, &message)
        let osErrno = errno
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            let code = handle.map { sqlite3_extended_errcode($0) } ?? rc
            throw SQLiteError(
                code: code, message: text, sql: sql, path: path,
                systemErrno: Self.systemErrno(handle, code: code, errno: osErrno))
        }
    }

    private func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(try db(), sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else { throw error(rc, sql: sql) }
        let statement = SQLiteStatement(handle: raw, sql: sql)
        statements[sql] = statement
        return statement
    }

    private func bind(_ values: [SQLiteValue], to statement: SQLiteStatement) throws(SQLiteError) {
        // SQLITE_TRANSIENT: SQLite copies the text before the Swift buffer goes away.
        let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let number): rc = sqlite3_bind_int64(statement.handle, index, number)
            case .text(let text): rc = sqlite3_bind_text(statement.handle, index, text, -1, transient)
            case .null: rc = sqlite3_bind_null(statement.handle, index)
            }
            guard rc == SQLITE_OK else { throw error(rc, sql: statement.sql) }
        }
    }

    /// Runs a statement with its binds and returns every row.
    func query(_ sql: String, _ binds: [SQLiteValue] = []) throws(SQLiteError) -> [SQLiteRow] {
        let statement = try statement(sql)
        defer {
            sqlite3_reset(statement.handle)
            sqlite3_clear_bindings(statement.handle)
        }
        try bind(binds, to: statement)
        var rows: [SQLiteRow] = []
        let count = sqlite3_column_count(statement.handle)
        let columns = SQLiteColumns(
            (0..<count).map { sqlite3_column_name(statement.handle, $0).map { String(cString: $0) } ?? "" })
        while true {
            let rc = sqlite3_step(statement.handle)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, sql: sql) }
            var values: [SQLiteValue] = []
            values.reserveCapacity(Int(count))
            for column in 0..<count {
                switch sqlite3_column_type(statement.handle, column) {
                case SQLITE_NULL:
                    values.append(.null)
                case SQLITE_INTEGER:
                    values.append(.integer(sqlite3_column_int64(statement.handle, column)))
                default:
                    // Text (and anything else, rendered as text by SQLite).
                    if let text = sqlite3_column_text(statement.handle, column) {
                        values.append(.text(String(cString: text)))
                    } else {
                        values.append(.null)
                    }
                }
            }
            rows.append(SQLiteRow(values: values, columns: columns))
        }
        return rows
    }

    /// Runs a statement that returns no rows; answers how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ binds: [SQLiteValue] = []) throws(SQLiteError) -> Int {
        _ = try query(sql, binds)
        return Int(sqlite3_changes(try db()))
    }

    /// Runs `body` inside `BEGIN IMMEDIATE` ... `COMMIT`; rolls back when it throws.
    ///
    /// IMMEDIATE takes the write lock up front, so a transaction never fails half-way with
    /// SQLITE_BUSY while upgrading a read lock. With `synchronous=FULL` in WAL mode, `COMMIT`
    /// returns only after the WAL is fsynced: the change survives a power cut from then on.
    ///
    /// `durable: false` commits with `synchronous=NORMAL`: the WAL frames are written but not
    /// fsynced, so a power cut (not a process crash) may lose this transaction, and only it; the
    /// next durable commit's fsync covers these frames too (the WAL is one file, appended in order).
    /// Callers use it only for rows whose loss is harmless on recovery, and say why.
    func transaction<T>(durable: Bool = true, _ body: () throws -> T) throws -> T {
        let changesBefore = sqlite3_total_changes64(try db())
        let lowered = !durable && synchronous != "NORMAL" && synchronous != "OFF"
        if lowered { try execute("PRAGMA synchronous = NORMAL") }
        defer { if lowered { _ = try? execute("PRAGMA synchronous = \(synchronous)") } }
        try execute("BEGIN IMMEDIATE")
        let result: T
        do {
            result = try body()
            try execute("COMMIT")
        } catch {
            if let handle, sqlite3_get_autocommit(handle) == 0 {
                // Best effort: the original error is the one worth reporting.
                _ = try? execute("ROLLBACK")
            }
            throw error
        }
        statistics.writeTransactions += 1
        if sqlite3_total_changes64(try db()) != changesBefore {
            if durable { statistics.durableCommits += 1 } else { statistics.nonDurableCommits += 1 }
        }
        return result
    }
}
