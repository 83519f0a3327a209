import Foundation
import KioskConfig
import Testing
import VendSession

@testable import DripPayAPI

/// Issue 22: the settling budget is a documented, tested table. docs/money-safety.md ("The budget
/// in numbers") names each constant with its value; this reads the page and compares it with the
/// code, both ways (a row without its constant, or a constant without its row, fails).
@Suite("docs/money-safety.md: the budget in numbers")
struct MoneySafetyDocTests {
    static let path =
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/money-safety.md").path

    static func page() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// The rows of the table under "### The budget in numbers": first cell -> second cell.
    static func budgetTable() throws -> [String: String] {
        let text = try page()
        let section = try #require(text.range(of: "### The budget in numbers"), "no budget section in \(path)")
        var rows: [String: String] = [:]
        var inTable = false
        for line in text[section.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("|") {
                inTable = true
                let cells = trimmed.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                guard cells.count >= 2, cells[0] != "constant", !cells[0].hasPrefix("---") else { continue }
                #expect(rows[cells[0]] == nil, "\(cells[0]) is in the table twice")
                rows[cells[0]] = cells[1]
            } else if inTable {
                break
            }
        }
        return rows
    }

    static func seconds(_ duration: Duration) -> String { "\(duration.components.seconds) s" }

    @Test func everyNumberOfTheTableIsTheCodesOwn() throws {
        let policy = SessionPolicy()
        let expected: [String: String] = [
            "`SessionPolicy.retryInitial`": Self.seconds(policy.retryInitial),
            "`SessionPolicy.retryMax`": Self.seconds(policy.retryMax),
            "`SessionPolicy.settleRetries`": "\(policy.settleRetries)",
            "`SessionPolicy.settleWithin`": Self.seconds(policy.settleWithin),
            "`SessionPolicy.machineTimeoutMargin`": Self.seconds(policy.machineTimeoutMargin),
            "`SessionPolicy.dispenseMargin`": Self.seconds(policy.dispenseMargin),
            "`VendSettings.defaultLatePaymentWatchSeconds`": "\(VendSettings.defaultLatePaymentWatchSeconds) s",
            "`DripPayClient.lookupPagesPerTry`": "\(DripPayClient.lookupPagesPerTry)",
            "`DripPayClient.lookupClockSkew`": "\(Int(DripPayClient.lookupClockSkew)) s",
            "`DripPayClient.retryAfterCap`": "\(DripPayClient.retryAfterCap) s",
            "`RequestPriority.recovery` reserve": "\(RequestPriority.recovery.reserve(of: 60))",
        ]
        #expect(try Self.budgetTable() == expected)
    }

    @Test func theLongestTimesFollowFromTheConstants() throws {
        let text = try Self.page()
        let policy = SessionPolicy()
        // The back-off of every retry of one run.
        let pauses = (1...policy.settleRetries).map { Int(policy.retryDelay(attempt: $0).components.seconds) }
        let backOff = "\(pauses.reduce(0, +)) s of back-off (\(pauses.map(String.init).joined(separator: "+")))"
        #expect(text.contains(backOff), "docs/money-safety.md should say \(backOff)")
        // Lookups: pages per run, and list reads a minute once the reserve is kept.
        let pages = (policy.settleRetries + 1) * DripPayClient.lookupPagesPerTry
        #expect(text.contains("11 tries: \(pages) pages"))
        #expect(text.contains("at most \(60 - RequestPriority.recovery.reserve(of: 60)) a minute"))
        // The late-payment watch: its reads on the retry back-off, the last at the watch's end.
        let watch = VendSettings.defaultLatePaymentWatchSeconds
        var reads: [Int] = []
        var at = 0
        var attempt = 0
        while at < watch {
            attempt += 1
            at = min(watch, at + Int(policy.retryDelay(attempt: attempt).components.seconds))
            reads.append(at)
        }
        let listed = reads.dropLast().map(String.init).joined(separator: ", ") + " and \(reads.last ?? 0) s"
        #expect(
            text.contains("reads at \(listed) after the 404 (\(reads.count) reads"),
            "docs/money-safety.md should say reads at \(listed) (\(reads.count) reads)")
    }
}
