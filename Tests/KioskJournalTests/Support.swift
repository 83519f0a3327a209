import Foundation
import KioskCore

@testable import KioskJournal

/// A unique temporary directory per test, removed when the test lets go of it.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("kiosk-journal-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

let usd = Currency(code: "USD", minorDigits: 2)
let kwd = Currency(code: "KWD", minorDigits: 3)
let jpy = Currency(code: "JPY", minorDigits: 0)

/// A fixed instant with milliseconds, as the journal stores times at millisecond precision.
let t0Milliseconds: Int64 = 1_795_601_730_123  // 2026-11-25T10:15:30.123Z
let t0 = at(0)

/// `t0` plus `seconds`, on a whole millisecond (the journal's precision).
func at(_ seconds: Double) -> Date {
    Date(timeIntervalSince1970: Double(t0Milliseconds + Int64((seconds * 1000).rounded())) / 1000)
}

func makeRecord(
    _ tradeNo: String, vendID: String = "V1", state: SessionState = .requested,
    price: Money = Money(
        minorUnits: 150, currency: usd), created: Date = t0
) -> SessionRecord {
    SessionRecord(
        tradeNo: TradeNo(tradeNo), vendID: VendID(vendID)!, product: ProductCode("5")!, itemDescription: "Soda",
        price: price, state: state, createdAt: created, updatedAt: created)
}

/// Reads one column of every row with a separate raw connection (what another process would see).
func rawQuery(_ path: String, _ sql: String) throws -> [String?] {
    let connection = try SQLiteConnection(path: path, mode: .readOnly)
    defer { connection.close() }
    return try connection.query(sql).map { $0.string(0) }
}

func fileBytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
