import Foundation
import KioskCore
import Testing

@testable import KioskJournal

@Suite("Opening the journal")
struct JournalOpeningTests {
    @Test func migrationsApplyOnceAndAreRecorded() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        try Journal.open(path: path, machineID: "VVM-005").close()
        let firstApplied = try rawQuery(path, "SELECT identifier || '@' || applied_at FROM schema_migrations")
        try Journal.open(path: path, machineID: "VVM-005").close()
        let identifiers = try rawQuery(path, "SELECT identifier FROM schema_migrations ORDER BY rowid")
        #expect(identifiers == JournalSchema.migrations.map(\.identifier))
        #expect(try rawQuery(path, "SELECT identifier || '@' || applied_at FROM schema_migrations") == firstApplied)
    }

    @Test func journalUsesWALIncrementalVacuumAndForeignKeys() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let journal = try Journal.open(path: path, machineID: "VVM-005")
        defer { journal.close() }
        #expect(try rawQuery(path, "PRAGMA journal_mode") == ["wal"])
        #expect(try rawQuery(path, "PRAGMA auto_vacuum") == ["2"])  // 2 = INCREMENTAL
        let tables = try rawQuery(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        #expect(tables.contains("sessions") && tables.contains("session_events"))
    }

    @Test func missingDirectoryIsAClearError() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("no-such-dir/journal.sqlite")
        let error = #expect(throws: JournalError.self) { try Journal.open(path: path, machineID: "VVM-005") }
        guard case .directoryMissing(let reportedPath, let directory) = error else {
            Issue.record("expected directoryMissing, got \(String(describing: error))")
            return
        }
        #expect(reportedPath == path)
        #expect(directory == dir.path("no-such-dir"))
        #expect(error?.description.contains("does not exist") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path("no-such-dir")))
    }

    @Test func garbageFileIsFatalAndLeftUntouched() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        var generator = SystemRandomNumberGenerator()
        let garbage = Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try garbage.write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: JournalError.self) { try Journal.open(path: path, machineID: "VVM-005") }
        guard case .corrupt(let reportedPath, _) = error else {
            Issue.record("expected corrupt, got \(String(describing: error))")
            return
        }
        #expect(reportedPath == path)
        #expect(error?.description.contains("mv \(path)") == true)
        #expect(try fileBytes(path) == garbage)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
    }

    @Test func overwrittenPageIsFatalAndLeftUntouched() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let journal = try Journal.open(path: path, machineID: "VVM-005")
        for index in 0..<20 {
            try journal.insert(makeRecord("T\(index)", vendID: "V\(index)"), event: "vend_requested", detail: "")
        }
        journal.close()
        let rootPage = try #require(
            try rawQuery(path, "SELECT rootpage FROM sqlite_master WHERE name = 'sessions'").first.flatMap { $0 }
                .flatMap { Int($0) })
        let pageSize = try #require(try rawQuery(path, "PRAGMA page_size").first.flatMap { $0 }.flatMap { Int($0) })
        var bytes = try fileBytes(path)
        let start = (rootPage - 1) * pageSize
        bytes.replaceSubrange(start..<start + pageSize, with: Data(repeating: 0xA5, count: pageSize))
        try bytes.write(to: URL(fileURLWithPath: path))

        let error = #expect(throws: JournalError.self) { try Journal.open(path: path, machineID: "VVM-005") }
        guard case .corrupt(let reportedPath, _) = error else {
            Issue.record("expected corrupt, got \(String(describing: error))")
            return
        }
        #expect(reportedPath == path)
        #expect(try fileBytes(path) == bytes)
        #expect(throws: JournalError.self) { try Journal.openReadOnly(path: path) }
        #expect(try fileBytes(path) == bytes)
    }

    @Test func truncatedFileIsFatalAndLeftUntouched() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let journal = try Journal.open(path: path, machineID: "VVM-005")
        for index in 0..<200 {
            var record = makeRecord("T\(index)", vendID: "V\(index)")
            record.note = String(repeating: "n", count: 200)
            try journal.insert(record, event: "vend_requested", detail: "")
        }
        journal.close()
        let bytes = try fileBytes(path).prefix(4096 * 3)
        try bytes.write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: JournalError.self) { try Journal.open(path: path, machineID: "VVM-005") }
        guard case .corrupt = error else {
            Issue.record("expected corrupt, got \(String(describing: error))")
            return
        }
        #expect(try fileBytes(path) == bytes)
    }

    @Test func foreignDatabaseIsRefusedAndLeftUntouched() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("other.sqlite")
        let other = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try other.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        other.close()
        let before = try fileBytes(path)
        let error = #expect(throws: JournalError.self) { try Journal.open(path: path, machineID: "VVM-005") }
        guard case .foreignDatabase(_, let tables) = error else {
            Issue.record("expected foreignDatabase, got \(String(describing: error))")
            return
        }
        #expect(tables == ["customers"])
        #expect(try fileBytes(path) == before)
    }

    @Test func newerSchemaIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        try Journal.open(path: path, machineID: "VVM-005").close()
        let raw = try SQLiteConnection(path: path, mode: .readWriteCreate)
        try raw.execute("INSERT INTO schema_migrations (identifier, applied_at) VALUES ('v99-from-the-future', 0)")
        raw.close()
        let error = #expect(throws: JournalError.self) { try Journal.open(path: path, machineID: "VVM-005") }
        guard case .newerSchema(_, let unknown) = error else {
            Issue.record("expected newerSchema, got \(String(describing: error))")
            return
        }
        #expect(unknown == ["v99-from-the-future"])
    }

    @Test func readOnlyOpenOfMissingFileFailsWithoutCreatingIt() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let error = #expect(throws: JournalError.self) { try Journal.openReadOnly(path: path) }
        guard case .cannotOpen = error else {
            Issue.record("expected cannotOpen, got \(String(describing: error))")
            return
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func readOnlyJournalRefusesWrites() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        try Journal.open(path: path, machineID: "VVM-005").close()
        let reader = try Journal.openReadOnly(path: path)
        defer { reader.close() }
        #expect(throws: JournalError.self) { try reader.insert(makeRecord("T1"), event: "x", detail: "") }
        #expect(try reader.openSessions().isEmpty)
    }

    @Test func closedJournalRefusesCalls() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"), machineID: "VVM-005")
        journal.close()
        let error = #expect(throws: JournalError.self) { try journal.openSessions() }
        guard case .closed = error else {
            Issue.record("expected closed, got \(String(describing: error))")
            return
        }
    }
}
