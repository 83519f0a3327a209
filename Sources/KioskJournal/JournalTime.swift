import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How the journal writes times: integer milliseconds since 1970-01-01T00:00:00Z, in every
/// column. Integers sort, compare and round-trip exactly; text is for people (`iso8601`).
enum JournalTime {
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func date(milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Civil UTC date and time of a millisecond timestamp (proleptic Gregorian calendar).
    struct Civil: Hashable {
        var year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int
    }

    static func civil(milliseconds: Int64) -> Civil {
        let (days, msOfDay) = floorDivMod(milliseconds, 86_400_000)
        let (year, month, day) = CivilDate.date(days: Int(days))
        let ms = Int(msOfDay)
        return Civil(
            year: Int64(year), month: month, day: day, hour: ms / 3_600_000, minute: ms / 60_000 % 60,
            second: ms / 1000 % 60, millisecond: ms % 1000)
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }

    private static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// `2026-11-25T10:15:30.123Z`: for exports, where the exact stored millisecond matters.
    static func iso8601(_ date: Date) -> String {
        let c = civil(milliseconds: milliseconds(date))
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):"
            + "\(pad(c.second, 2)).\(pad(c.millisecond, 3))Z"
    }

    /// `2026-11-25 10:15:30Z`: for tables a person reads.
    static func short(_ date: Date) -> String {
        let c = civil(milliseconds: milliseconds(date))
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2)) \(pad(c.hour, 2)):\(pad(c.minute, 2)):"
            + "\(pad(c.second, 2))Z"
    }

    /// `20261125T101530Z`: the basic ISO 8601 form used inside trade numbers (no `:` allowed there).
    static func compact(_ date: Date) -> String {
        let c = civil(milliseconds: milliseconds(date))
        return "\(pad(c.year, 4))\(pad(c.month, 2))\(pad(c.day, 2))T\(pad(c.hour, 2))\(pad(c.minute, 2))"
            + "\(pad(c.second, 2))Z"
    }
}

extension Date {
    /// This date as the journal's exports write it: `2026-11-25T10:15:30.123Z` (UTC).
    public var journalISO8601: String { JournalTime.iso8601(self) }
    /// This date as the journal's tables show it: `2026-11-25 10:15:30Z` (UTC).
    public var journalShort: String { JournalTime.short(self) }
}
