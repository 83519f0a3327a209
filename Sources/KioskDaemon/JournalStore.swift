import Foundation
import KioskCore
import KioskJournal
import VendSession

/// The journal as the vend coordinator's `SessionStore`: every call is the journal's own,
/// durable when it returns.
public struct JournalSessionStore: SessionStore {
    public let journal: Journal

    public init(journal: Journal) { self.journal = journal }

    public func nextTradeNo(now: Date) throws -> TradeNo { try journal.nextTradeNo(now: now) }

    public func insert(_ record: SessionRecord, event: String, detail: String) throws {
        try journal.insert(record, event: event, detail: detail)
    }

    public func update(_ record: SessionRecord, event: String, detail: String) throws {
        try journal.update(record, event: event, detail: detail)
    }

    public func appendEvent(tradeNo: TradeNo, event: String, detail: String) throws {
        try journal.appendEvent(tradeNo: tradeNo, kind: event, detail: detail, at: Date())
    }

    public func openSessions() throws -> [SessionRecord] { try journal.openSessions() }

    public func latestSession(vendID: VendID) throws -> SessionRecord? { try journal.latestSession(vendID: vendID) }

    public func probeWrite() throws { try journal.probeWrite() }
}
