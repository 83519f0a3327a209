import KioskCore

/// Why the journal refused or failed. Every case names the journal file and says what to do.
public enum JournalError: Error, Sendable, CustomStringConvertible {
    /// The journal's directory does not exist (systemd's `StateDirectory=` normally creates it).
    case directoryMissing(path: String, directory: String)
    /// SQLite could not open the file (permissions, a missing file when read-only, a locked file).
    case cannotOpen(path: String, SQLiteError)
    /// The file is not a database or is damaged. The daemon never replaces or repairs it.
    case corrupt(path: String, detail: String)
    /// The file holds migrations this build does not know: written by a newer drippay-kiosk.
    case newerSchema(path: String, unknownMigrations: [String])
    /// Opened read-only, but the file lacks migrations this build needs (not a journal, or an old one
    /// that the daemon has not yet upgraded).
    case schemaNotCurrent(path: String, missingMigrations: [String])
    /// The file system refused write-ahead logging (e.g. no shared memory on this mount).
    case walUnavailable(path: String, journalMode: String)
    /// `insert` of a trade number the journal already holds.
    case duplicateTradeNo(TradeNo, path: String)
    /// `update` or `appendEvent` of a session the journal does not hold.
    case unknownSession(TradeNo, path: String)
    /// A final session never changes again (money-safety: a dispensed session is never paid again).
    case finalSessionImmutable(TradeNo, state: SessionState, attempted: SessionState, path: String)
    /// A change of state that breaks a money-safety rule (e.g. `dispensing` back to `paid`, or a paid
    /// session ending as `cancelled`); `rule` says which.
    case transitionRefused(TradeNo, from: SessionState, to: SessionState, rule: String, path: String)
    /// The file is an SQLite database of something else: it has tables but no `schema_migrations`.
    case foreignDatabase(path: String, tables: [String])
    /// `update` tried to change what identifies the sale (vend id, product, price, creation time,
    /// invoice reference once set).
    case identityChanged(TradeNo, field: String, path: String)
    /// A write on a journal opened read-only.
    case readOnly(path: String)
    /// A call after `close()`.
    case closed(path: String)
    /// A row the journal cannot turn back into a `SessionRecord` (edited by hand, or damaged).
    case invalidRow(path: String, tradeNo: String, column: String, value: String)
    /// `resolve` of a session that is not in an audit state (`SessionState.operatorSettleable`).
    case notOperatorSettleable(TradeNo, state: SessionState, path: String)
    /// `resolve` of a session an operator resolved before; carries that resolution.
    case alreadyResolved(SessionResolution, path: String)
    /// Any other SQLite failure (disk full, I/O error, ...), with code, message, SQL and file.
    case sqlite(SQLiteError)

    public var description: String {
        switch self {
        case .directoryMissing(let path, let directory):
            return "journal \(path): directory \(directory) does not exist. Create it (owned by the daemon's user) "
                + "or set [journal] path to a file in an existing directory; under systemd, StateDirectory= creates it."
        case .cannotOpen(let path, let error):
            return "journal \(path): cannot open (\(error.message), SQLite code \(error.code)). Check that the file "
                + "exists, and that this user may read it (and write it and its directory, for the daemon)."
        case .corrupt(let path, let detail):
            return
                "journal \(path) is damaged or is not a journal (\(detail)). It was left untouched. Stop the daemon, "
                + "move the file (and any \(path)-wal, \(path)-shm) aside for inspection, e.g. "
                + "`mv \(path) \(path).corrupt`, and restore the latest backup before starting again."
        case .newerSchema(let path, let unknown):
            return "journal \(path) was written by a newer drippay-kiosk (unknown migrations: "
                + "\(unknown.joined(separator: ", "))). Install that version again; this one will not write to it."
        case .schemaNotCurrent(let path, let missing):
            return "journal \(path) is not a current drippay-kiosk journal (missing migrations: "
                + "\(missing.joined(separator: ", "))). Check the path; if it is an older journal, "
                + "start the daemon once to upgrade it."
        case .walUnavailable(let path, let mode):
            return "journal \(path): SQLite could not switch to WAL mode (got '\(mode)'). Put the journal on a local "
                + "file system (not a network or read-only mount)."
        case .duplicateTradeNo(let tradeNo, let path):
            return "journal \(path): a session with trade_no \(tradeNo) already exists; nothing was written."
        case .unknownSession(let tradeNo, let path):
            return "journal \(path): no session with trade_no \(tradeNo); nothing was written."
        case .finalSessionImmutable(let tradeNo, let state, let attempted, let path):
            return "journal \(path): session \(tradeNo) is \(state.rawValue), a final state; refused to change it to "
                + "\(attempted.rawValue). Nothing was written (a final session never changes)."
        case .transitionRefused(let tradeNo, let from, let to, let rule, let path):
            return "journal \(path): session \(tradeNo) may not go from \(from.rawValue) to \(to.rawValue) (\(rule)); "
                + "nothing was written."
        case .foreignDatabase(let path, let tables):
            return
                "journal \(path) is an SQLite database of something else (tables: \(tables.joined(separator: ", "))). "
                + "It was left untouched; check [journal] path."
        case .identityChanged(let tradeNo, let field, let path):
            return "journal \(path): session \(tradeNo): \(field) never changes after the session is created; "
                + "nothing was written."
        case .readOnly(let path):
            return "journal \(path) is open read-only; writes go through the daemon."
        case .closed(let path):
            return "journal \(path) is closed."
        case .invalidRow(let path, let tradeNo, let column, let value):
            return "journal \(path): session \(tradeNo) has an invalid \(column) '\(value)'. The row was changed "
                + "outside drippay-kiosk; restore it from a backup."
        case .notOperatorSettleable(let tradeNo, let state, let path):
            let settleable = SessionState.operatorSettleable.map(\.rawValue).joined(separator: ", ")
            return "journal \(path): session \(tradeNo) is \(state.rawValue); only a session in "
                + "\(settleable) is resolved by an operator. Nothing was written; "
                + "`drippay-kiosk journal refunds` lists those open."
        case .alreadyResolved(let resolution, let path):
            return "journal \(path): session \(resolution.tradeNo) was already resolved at "
                + "\(resolution.resolvedAt.journalISO8601) by \(resolution.resolvedBy) (\(resolution.note)). "
                + "Nothing was written; a resolution is never changed."
        case .sqlite(let error):
            return "journal \(error.description). Check free space and the storage device."
        }
    }
}
