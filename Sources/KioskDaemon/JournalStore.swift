import KioskCore
import KioskJournal
import VendSession

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The journal as the vend coordinator's `SessionStore`: every call is the journal's own, one
/// transaction, durable when it returns (but a note written with `durable: false`).
public struct JournalSessionStore: SessionStore {
    public let journal: Journal

    public init(journal: Journal) { self.journal = journal }

    public func insertNew(
        now: Date, event: JournalEventKind, detail: String, _ make: (TradeNo) -> SessionRecord
    ) throws
        -> SessionRecord
    {
        try journal.insertNew(now: now, event: event.rawValue, detail: detail, make)
    }

    public func update(steps: [(record: SessionRecord, event: JournalEventKind, detail: String)]) throws {
        try journal.update(steps: steps.map { JournalStep($0.record, event: $0.event.rawValue, detail: $0.detail) })
    }

    public func appendEvent(tradeNo: TradeNo, event: JournalEventKind, detail: String, at: Date, durable: Bool) throws {
        try journal.appendEvent(tradeNo: tradeNo, kind: event.rawValue, detail: detail, at: at, durable: durable)
    }

    public func openSessions() throws -> [SessionRecord] { try journal.openSessions() }

    public func latestSession(vendID: VendID) throws -> SessionRecord? { try journal.latestSession(vendID: vendID) }

    public func probeWrite(at: Date) throws { try journal.probeWrite(at: at) }
}

extension JournalSessionStore: LookupProgressStore {
    // A failed write or read only makes a lookup start again from page 1; the session's own
    // writes report a journal that cannot be written.
    public func progress(of tradeNo: TradeNo) -> String? { try? journal.lookupProgress(tradeNo: tradeNo) }

    public func save(_ progress: String, of tradeNo: TradeNo) {
        try? journal.saveLookupProgress(tradeNo: tradeNo, progress: progress, at: Date())
    }

    public func clear(_ tradeNo: TradeNo) { try? journal.clearLookupProgress(tradeNo: tradeNo) }
}
