import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Operators' settlements of sessions in an audit state (`journal resolve`): written once, in the
/// `session_resolutions` table, beside the session, which keeps its state and history.
extension Journal {
    /// Records that an operator settled the session `tradeNo` (refunded it, or checked the machine),
    /// durable on return.
    ///
    /// - Throws: `.unknownSession`; `.notOperatorSettleable` when the session is not in an audit
    ///   state (`SessionState.operatorSettleable`); `.alreadyResolved` when it was resolved before
    ///   (nothing is written in either case).
    @discardableResult
    public func resolve(
        tradeNo: TradeNo, note: String, by resolvedBy: String, at: Date
    ) throws(JournalError) -> SessionResolution {
        try withConnection(writing: true) { connection in
            try connection.transaction {
                guard
                    let row = try connection.query(
                        "SELECT state FROM sessions WHERE trade_no = ?", [.text(tradeNo.rawValue)]
                    ).first
                else {
                    throw JournalError.unknownSession(tradeNo, path: self.path)
                }
                let stateText = row.string(0) ?? "NULL"
                guard let state = SessionState(rawValue: stateText) else {
                    throw JournalError.invalidRow(
                        path: self.path, tradeNo: tradeNo.rawValue, column: "state", value: stateText)
                }
                if let earlier = try Self.resolution(connection, tradeNo: tradeNo, path: self.path) {
                    throw JournalError.alreadyResolved(earlier, path: self.path)
                }
                guard state.isOperatorSettleable else {
                    throw JournalError.notOperatorSettleable(tradeNo, state: state, path: self.path)
                }
                let resolution = SessionResolution(
                    tradeNo: tradeNo, state: state, resolvedAt: at, resolvedBy: resolvedBy, note: note)
                try connection.run(
                    """
                    INSERT INTO session_resolutions (trade_no, state, resolved_at, resolved_by, note)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                    [
                        .text(tradeNo.rawValue), .text(state.rawValue), .integer(JournalTime.milliseconds(at)),
                        .text(resolvedBy), .text(note),
                    ])
                return resolution
            }
        }
    }

    /// The session's resolution, or nil when it has none.
    public func resolution(tradeNo: TradeNo) throws(JournalError) -> SessionResolution? {
        try withConnection(writing: false) { try Self.resolution($0, tradeNo: tradeNo, path: self.path) }
    }

    /// The resolutions of these sessions, by trade_no (sessions without one are absent).
    public func resolutions(of sessions: [SessionRecord]) throws(JournalError) -> [TradeNo: SessionResolution] {
        var found: [TradeNo: SessionResolution] = [:]
        for record in sessions {
            if let resolution = try resolution(tradeNo: record.tradeNo) { found[record.tradeNo] = resolution }
        }
        return found
    }

    /// Sessions in an audit state, oldest change first: those not yet resolved, or all of them.
    public func auditSessions(includingResolved: Bool = false) throws(JournalError) -> [SessionRecord] {
        let states = SessionState.operatorSettleable
        let placeholders = states.map { _ in "?" }.joined(separator: ", ")
        let unresolved =
            includingResolved ? "" : " AND trade_no NOT IN (SELECT trade_no FROM session_resolutions)"
        return try sessions(
            where: "state IN (\(placeholders))\(unresolved)", states.map { .text($0.rawValue) },
            orderBy: "updated_at, id")
    }

    /// How many sessions in each audit state no operator has resolved yet (every audit state
    /// present, zero included): the open-audit gauge.
    public func openAuditCounts() throws(JournalError) -> [SessionState: Int] {
        let path = self.path
        return try withConnection(writing: false) { connection in
            var counts = Dictionary(uniqueKeysWithValues: SessionState.operatorSettleable.map { ($0, 0) })
            let placeholders = SessionState.operatorSettleable.map { _ in "?" }.joined(separator: ", ")
            let rows = try connection.query(
                """
                SELECT state, count(*) AS n FROM sessions
                WHERE state IN (\(placeholders)) AND trade_no NOT IN (SELECT trade_no FROM session_resolutions)
                GROUP BY state
                """, SessionState.operatorSettleable.map { .text($0.rawValue) })
            for row in rows {
                guard let text = row.string("state"), let state = SessionState(rawValue: text) else {
                    throw JournalError.invalidRow(
                        path: path, tradeNo: "?", column: "state", value: row.string("state") ?? "NULL")
                }
                counts[state] = Int(row.int64("n") ?? 0)
            }
            return counts
        }
    }

    static func resolution(
        _ connection: SQLiteConnection, tradeNo: TradeNo, path: String
    ) throws -> SessionResolution? {
        guard
            let row = try connection.query(
                "SELECT state, resolved_at, resolved_by, note FROM session_resolutions WHERE trade_no = ?",
                [.text(tradeNo.rawValue)]
            ).first
        else { return nil }
        let stateText = row.string("state") ?? "NULL"
        guard let state = SessionState(rawValue: stateText) else {
            throw JournalError.invalidRow(
                path: path, tradeNo: tradeNo.rawValue, column: "session_resolutions.state", value: stateText)
        }
        return SessionResolution(
            tradeNo: tradeNo, state: state,
            resolvedAt: JournalTime.date(milliseconds: row.int64("resolved_at") ?? 0),
            resolvedBy: row.string("resolved_by") ?? "", note: row.string("note") ?? "")
    }
}
