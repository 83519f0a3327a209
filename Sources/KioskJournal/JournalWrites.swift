import KioskCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The journal's writes: trade numbers, sessions and their events, each one durable transaction that
/// keeps the money-safety rules (`checkTransition`), and pruning.
extension Journal {
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
    func takeTradeNo(_ connection: SQLiteConnection, now: Date) throws -> TradeNo {
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
            let isAllowed =
                scalar.isASCII
                && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_"
                    || scalar == "-")
            return isAllowed ? Character(scalar) : "-"
        }
        return allowed.isEmpty ? "kiosk" : String(allowed)
    }

    // MARK: Writes

    static let sessionColumns = """
        trade_no, vend_id, product, item_description, price_minor, currency, minor_digits, state, reference, \
        provider_invoice_id, qr_payload, created_at, updated_at, payment_deadline, paid_at, note
        """

    static func binds(_ record: SessionRecord) -> [SQLiteValue] {
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

    static func optional(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }
    static func optional(_ number: Int64?) -> SQLiteValue { number.map { .integer($0) } ?? .null }

    static let insertEventSQL =
        "INSERT INTO session_events (trade_no, at, state, kind, detail) VALUES (?, ?, ?, ?, ?)"

    /// Journals a new session and its first event in one transaction, durable on return.
    /// - Throws: `.duplicateTradeNo` when the trade number exists (nothing is written).
    public func insert(_ record: SessionRecord, event kind: String, detail: String) throws(JournalError) {
        try withConnection(writing: true) { connection in
            try connection.transaction { try self.insertRows(connection, record, event: kind, detail: detail) }
        }
    }

    func insertRows(
        _ connection: SQLiteConnection, _ record: SessionRecord, event kind: String, detail: String
    )
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
                for step in steps {
                    try self.updateRows(connection, step.record, event: step.event, detail: step.detail)
                }
            }
        }
    }

    func updateRows(
        _ connection: SQLiteConnection, _ record: SessionRecord, event kind: String, detail: String
    )
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

    /// The money-safety rules a state change must keep (docs/money-safety.md, "The rules"):
    /// a final session never changes; no going back along requested -> invoiced -> paid -> dispensing;
    /// `dispensing` only from `paid` (only a payment authorises a dispense); `dispensed` and
    /// `dispense_unknown` only from `dispensing`; a paid session ends only as dispensed, refund due or
    /// dispense unknown (a paid invoice is never forgotten). Staying in the same state is allowed.
    /// The invoice reference, once journaled, never changes (no orphan invoices).
    static func checkTransition(from stored: SessionRecord, to record: SessionRecord, path: String) throws(JournalError)
    {
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
            if (from == .paid || from == .dispensing) && (to == .cancelled || to == .failed || to == .unresolved) {
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
    public func appendEvent(
        tradeNo: TradeNo, kind: String, detail: String, at: Date, durable: Bool = true
    )
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

    /// States `prune` deletes. `refund_due`, `dispense_unknown` and `unresolved` are kept for ever:
    /// an operator still owes the customer money or an audit.
    static let prunableStates: [SessionState] = [.dispensed, .cancelled, .failed]

    /// Deletes sessions (and their events) that ended as dispensed, cancelled or failed with their last
    /// change before `finishedBefore`, then returns the freed pages to the file system so the file
    /// stays bounded on an SD card. Never deletes open sessions nor those needing an operator.
    /// - Returns: the number of sessions deleted.
    @discardableResult
    public func prune(finishedBefore cutoff: Date) throws(JournalError) -> Int {
        try withConnection(writing: true) { connection in
            let placeholders = Self.prunableStates.map { _ in "?" }.joined(separator: ", ")
            let deleted = try connection.transaction {
                try connection.run(
                    "DELETE FROM sessions WHERE state IN (\(placeholders)) AND updated_at < ?",
                    Self.prunableStates.map { SQLiteValue.text($0.rawValue) } + [
                        SQLiteValue.integer(JournalTime.milliseconds(cutoff))
                    ])
            }
            if deleted > 0 {
                // Moves free pages to the end; the file shrinks when the WAL is checkpointed below.
                try connection.execute("PRAGMA incremental_vacuum")
            }
            try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return deleted
        }
    }
}
