import KioskCore
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The journal's reads: sessions and events by column name, and counts.
extension Journal {
    // MARK: Reads

    /// A `sessions` row, read by column name (`sessionColumns`), never by position.
    static func record(from row: SQLiteRow, path: String) throws(JournalError) -> SessionRecord {
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
            reference: row.string("reference").map(InvoiceReference.init),
            providerInvoiceID: row.string("provider_invoice_id"),
            qrPayload: row.string("qr_payload"), createdAt: createdAt, updatedAt: updatedAt,
            paymentDeadline: time("payment_deadline"), paidAt: time("paid_at"), note: row.string("note"))
    }

    func sessions(
        where clause: String, _ binds: [SQLiteValue], orderBy: String, limit: Int? = nil,
        offset: Int = 0
    ) throws(JournalError) -> [SessionRecord] {
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
    public func sessions(
        limit: Int, offset: Int = 0, states: [SessionState] = []
    ) throws(JournalError)
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
                    throw .invalidRow(
                        path: path, tradeNo: tradeNo.rawValue, column: "session_events.state",
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

    /// When the newest session in `state` last changed (for `dispensed`: the last sale), or nil
    /// when none is. Reads the state index.
    public func lastEnded(state: SessionState) throws(JournalError) -> Date? {
        try withConnection(writing: false) { connection in
            let rows = try connection.query(
                "SELECT max(updated_at) FROM sessions WHERE state = ?", [.text(state.rawValue)])
            return rows.first?.int64(0).map(JournalTime.date(milliseconds:))
        }
    }

    /// How many sessions are in each state (every state present, zero included).
    public func counts() throws(JournalError) -> [SessionState: Int] {
        let path = self.path
        return try withConnection(writing: false) { connection in
            var counts = Dictionary(uniqueKeysWithValues: SessionState.allCases.map { ($0, 0) })
            for row in try connection.query("SELECT state, count(*) AS n FROM sessions GROUP BY state") {
                guard let text = row.string("state"), let state = SessionState(rawValue: text) else {
                    throw JournalError.invalidRow(
                        path: path, tradeNo: "?", column: "state", value: row.string("state") ?? "NULL")
                }
                counts[state] = Int(row.int64("n") ?? 0)
            }
            return counts
        }
    }
}
