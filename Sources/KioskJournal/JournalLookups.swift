import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How far each open session's trade_no lookup has read (`trade_no_lookups`), so that a restart
/// resumes a long lookup instead of starting it over. Losing a row only makes a lookup start
/// again from page 1 (slower, never wrong): the writes skip their own fsync.
extension Journal {
    /// Keeps `progress` (the API client's text) for the session `tradeNo`, replacing any earlier.
    public func saveLookupProgress(tradeNo: TradeNo, progress: String, at: Date) throws(JournalError) {
        try withConnection(writing: true) { connection in
            try connection.transaction(durable: false) {
                _ = try connection.run(
                    """
                    INSERT INTO trade_no_lookups (trade_no, progress, updated_at) VALUES (?, ?, ?)
                    ON CONFLICT (trade_no) DO UPDATE SET progress = excluded.progress, updated_at = excluded.updated_at
                    """, [.text(tradeNo.rawValue), .text(progress), .integer(JournalTime.milliseconds(at))])
            }
        }
    }

    /// The progress last kept for the session `tradeNo`, or nil.
    public func lookupProgress(tradeNo: TradeNo) throws(JournalError) -> String? {
        try withConnection(writing: false) { connection in
            try connection.query(
                "SELECT progress FROM trade_no_lookups WHERE trade_no = ?", [.text(tradeNo.rawValue)]
            ).first?.string(0)
        }
    }

    /// Forgets the session's lookup progress (the lookup finished).
    public func clearLookupProgress(tradeNo: TradeNo) throws(JournalError) {
        try withConnection(writing: true) { connection in
            try connection.transaction(durable: false) {
                _ = try connection.run(
                    "DELETE FROM trade_no_lookups WHERE trade_no = ?", [.text(tradeNo.rawValue)])
            }
        }
    }
}
