import Foundation
import KioskCore
import KioskJournal
import Testing

extension KioskIntegration {
    /// `journal resolve`, `journal refunds [--all]` and `journal export` through the built binary,
    /// on a journal holding two refunds due, a dispense unknown and a dispensed session.
    @Suite("journal resolve command")
    struct JournalResolveCommandTests {
        let directory: String
        let path: String

        init() throws {
            directory = NSTemporaryDirectory() + "kiosk-resolve-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            path = directory + "/journal.sqlite"
            let journal = try Journal.open(path: path, machineID: "CLI")
            defer { journal.close() }
            let usd = Currency(code: "USD", minorDigits: 2)
            let sessions: [(String, SessionState, Int64)] = [
                ("REF-1", .refundDue, 150), ("REF-2", .refundDue, 225), ("UNK-1", .dispenseUnknown, 300),
                ("OK-1", .dispensed, 150),
            ]
            for (index, (tradeNo, state, minor)) in sessions.enumerated() {
                let time = Date(timeIntervalSince1970: 1_795_601_730 + Double(index))
                try journal.insert(
                    SessionRecord(
                        tradeNo: TradeNo(tradeNo), vendID: VendID("v\(index)")!, product: ProductCode("5")!,
                        itemDescription: "Soda", price: Money(minorUnits: minor, currency: usd), state: state,
                        reference: InvoiceReference("ref-\(tradeNo.lowercased())"), createdAt: time, updatedAt: time,
                        paidAt: time, note: "vend failed: jam"),
                    event: "x", detail: "")
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }

        func kiosk(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            let result = try await runKioskCommand(["journal"] + arguments + ["--journal", path])
            #expect(!result.timedOut)
            return (result.status, result.stdout, result.stderr)
        }

        @Test func resolvingARefundRemovesItFromTheOpenListAndAllShowsTheResolution() async throws {
            defer { remove() }
            let before = try await kiosk(["refunds"])
            #expect(before.status == 0, "\(before.stderr)")
            #expect(before.stdout.contains("Refunds due (open, 2):"))
            #expect(
                before.stdout.contains("REF-1") && before.stdout.contains("REF-2") && before.stdout.contains("UNK-1"))

            let resolve = try await kiosk(["resolve", "REF-1", "--note", "refunded 1.50 USD by phone", "--by", "alice"])
            #expect(resolve.status == 0, "\(resolve.stderr)")
            #expect(resolve.stdout.hasPrefix("Resolved REF-1 (refund_due) at "))
            #expect(resolve.stdout.contains(" by alice: refunded 1.50 USD by phone"))

            let open = try await kiosk(["refunds"])
            #expect(open.stdout.contains("Refunds due (open, 1):"))
            #expect(!open.stdout.contains("REF-1"))
            #expect(open.stdout.contains("REF-2"))

            let all = try await kiosk(["refunds", "--all"])
            #expect(all.stdout.contains("Refunds due (2):"))
            let line = try #require(all.stdout.split(separator: "\n").first { $0.contains("REF-1") })
            #expect(line.contains("alice") && line.contains("refunded 1.50 USD by phone"))
            let other = try #require(all.stdout.split(separator: "\n").first { $0.contains("REF-2") })
            #expect(other.contains("open"))

            // The journal holds it: one row, the session unchanged.
            let journal = try Journal.openReadOnly(path: path)
            defer { journal.close() }
            let resolution = try #require(try journal.resolution(tradeNo: TradeNo("REF-1")))
            #expect(resolution.resolvedBy == "alice" && resolution.note == "refunded 1.50 USD by phone")
            #expect(try journal.session(tradeNo: TradeNo("REF-1"))?.state == .refundDue)

            let show = try await kiosk(["show", "REF-1"])
            #expect(show.stdout.contains("resolved_by") && show.stdout.contains("alice"))
        }

        @Test func theExportCarriesTheResolution() async throws {
            defer { remove() }
            _ = try await kiosk(["resolve", "UNK-1", "--note", "product came out, seen on camera", "--by", "bob"])
            let csv = try await kiosk(["export", "--format", "csv"])
            #expect(csv.status == 0)
            let lines = csv.stdout.split(separator: "\r\n")
            #expect(lines.first?.hasSuffix(",resolved_at,resolved_by,resolution_note") == true)
            let unknown = try #require(lines.first { $0.hasPrefix("UNK-1,") })
            #expect(unknown.hasSuffix(",bob,\"product came out, seen on camera\""))
            let open = try #require(lines.first { $0.hasPrefix("REF-1,") })
            #expect(open.hasSuffix(",,,"))
            let json = try await kiosk(["export", "--format", "json"])
            #expect(json.stdout.contains("\"resolved_by\" : \"bob\""))
        }

        @Test func aSecondResolveIsRefusedNamingTheFirst() async throws {
            defer { remove() }
            _ = try await kiosk(["resolve", "REF-2", "--note", "refunded", "--by", "alice"])
            let again = try await kiosk(["resolve", "REF-2", "--note", "refunded twice?", "--by", "bob"])
            #expect(again.status != 0)
            #expect(again.stderr.contains("REF-2 was already resolved at"))
            #expect(again.stderr.contains("by alice (refunded)"))
            let journal = try Journal.openReadOnly(path: path)
            defer { journal.close() }
            #expect(try journal.resolution(tradeNo: TradeNo("REF-2"))?.resolvedBy == "alice")
        }

        @Test func aSessionNotInAnAuditStateIsRefused() async throws {
            defer { remove() }
            let dispensed = try await kiosk(["resolve", "OK-1", "--note", "n"])
            #expect(dispensed.status != 0)
            #expect(
                dispensed.stderr.contains("session OK-1 is dispensed; only a session in refund_due, dispense_unknown"))
            let unknown = try await kiosk(["resolve", "NOPE", "--note", "n"])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("no session with trade_no NOPE"))
            let empty = try await kiosk(["resolve", "REF-1", "--note", "  "])
            #expect(empty.status != 0)
            #expect(empty.stderr.contains("--note must say what was done"))
            let journal = try Journal.openReadOnly(path: path)
            defer { journal.close() }
            #expect(try journal.resolution(tradeNo: TradeNo("REF-1")) == nil)
        }

        @Test func aMissingJournalIsNotCreated() async throws {
            defer { remove() }
            let missing = directory + "/other.sqlite"
            let result = try await runKioskCommand(["journal", "resolve", "REF-1", "--note", "n", "--journal", missing])
            #expect(result.status != 0)
            #expect(result.stderr.contains("no journal at \(missing)"))
            #expect(!FileManager.default.fileExists(atPath: missing))
        }
    }
}
