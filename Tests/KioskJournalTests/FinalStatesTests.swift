import Foundation
import KioskCore
import Testing

@testable import KioskJournal

/// The final states are defined once (`SessionState.isFinal`); the SQL trigger that keeps a
/// final session unchanged has its own copy, which must name the same states.
@Suite("final states")
struct FinalStatesTests {
    /// The state names in the `WHEN OLD.state IN (...)` of the trigger as the journal holds it.
    static func triggerStates(_ sql: String) throws -> Set<String> {
        let start = try #require(sql.range(of: "OLD.state IN ("), "no OLD.state IN (...) in \(sql)")
        let end = try #require(sql[start.upperBound...].firstIndex(of: ")"))
        return Set(
            sql[start.upperBound..<end].split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
            })
    }

    @Test func theJournalsFinalStateTriggerNamesExactlyTheFinalStates() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let journal = try Journal.open(path: path, machineID: "VVM-005")
        defer { journal.close() }
        let sql = try #require(
            try rawQuery(
                path, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'sessions_final_is_immutable'"
            )
            .first ?? nil)
        #expect(try Self.triggerStates(sql) == Set(SessionState.finalStates.map(\.rawValue)))
        #expect(SessionState.finalStates.count == 6)
    }

    @Test func finalStatesAreThoseThatAreFinal() {
        for state in SessionState.allCases {
            #expect(SessionState.finalStates.contains(state) == state.isFinal, "\(state)")
        }
        #expect(Set(Journal.prunableStates).isSubset(of: Set(SessionState.finalStates)))
    }
}
