import Foundation
import Testing

@testable import KioskConfig

/// Inputs the fuzzers (scripts/fuzz) found, kept as regression tests of the normal suite.
@Suite("Fuzz findings")
struct FuzzRegressionTests {
    /// FuzzConfig, first minute: an empty config file (the leak it showed is FoundationEssentials'
    /// when reading a 0-byte file, suppressed in Fuzz/lsan.supp; the loader must still answer
    /// with problems that name the file and a line).
    @Test func anEmptyConfigFileIsRefusedWithProblemsNamingTheFileAndALine() throws {
        let f = try Fixture()
        try Data().write(to: URL(fileURLWithPath: f.configFile))
        guard case .failure(let problems) = f.load() else {
            Issue.record("an empty config loaded")
            return
        }
        #expect(!problems.problems.isEmpty)
        #expect(problems.problems.allSatisfy { $0.file == f.configFile && $0.line >= 1 }, "\(problems.problems)")
        #expect(problems.problems.contains { $0.message.contains("machine_id") }, "\(problems.problems)")
    }
}
