import Foundation
import KioskCore
import KioskTestSupport
import Testing

@testable import DripPayAPI
@testable import DripPayModels

/// Issue 22, "a lookup that finishes": the trade_no walk (`TradeNoLookup`) is a value fed pages,
/// so its rules are checked here on hand-built pages, without sockets: any list order, invoices
/// deleted between two page reads (offsets shift), malformed invoices, the horizon, the request
/// budget and a walk kept across a restart.
@Suite("TradeNoLookup on hand-built pages")
struct TradeNoLookupTests {
    static let machine = "VVM-005"
    static let target = "T-TARGET"
    /// The session's `created_at`: the horizon is 10 min before it.
    static let since = Date(timeIntervalSince1970: 1_800_000_000)

    /// One entry of a simulated list: a readable invoice, or a malformed one (JSON text).
    struct Entry {
        var reference: String
        var machineID: String
        var tradeNo: String
        var createdAt: Date
        var malformed: (@Sendable (String) -> String)?
        /// The invoice's JSON, made once (pages are rendered again after every read).
        let text: String

        init(reference: String, machineID: String, tradeNo: String, createdAt: Date) {
            self.reference = reference
            self.machineID = machineID
            self.tradeNo = tradeNo
            self.createdAt = createdAt
            let stamp = Self.stamp(createdAt)
            text = """
                {"reference":"\(reference)","provider":"strike","provider_account_username":null,\
                "provider_invoice_id":"p-\(reference)","machine_id":"\(machineID)","trade_no":"\(tradeNo)",\
                "currency":"USD","total":"1.50","status":"pending","status_label":"Pending",\
                "qr_code_image_url":null,"items":[{"reference":"i-\(reference)","description":"Soda",\
                "amount":"1.50","created_at":"\(stamp)"}],"payment":null,\
                "created_at":"\(stamp)","updated_at":"\(stamp)"}
                """
        }

        var json: String { malformed.map { $0(text) } ?? text }

        /// `2027-01-15T08:00:00+00:00` (no formatter per invoice: the property test makes many).
        static func stamp(_ date: Date) -> String { CivilDate.iso8601(date) }
    }

    static func other(_ n: Int, at date: Date, machine: String = "OTHER-01") -> Entry {
        Entry(reference: "other-\(n)", machineID: machine, tradeNo: "O-\(n)", createdAt: date)
    }

    static func ours(at date: Date = since, reference: String = "ref-target") -> Entry {
        Entry(reference: reference, machineID: machine, tradeNo: target, createdAt: date)
    }

    /// Page `page` (100 a page) of `list` as the API would answer it.
    static func page(_ page: Int, of list: [Entry]) throws -> InvoicePage {
        let perPage = TradeNoLookup.perPage
        let lastPage = max(1, (list.count + perPage - 1) / perPage)
        let start = (page - 1) * perPage
        let slice = start < list.count ? Array(list[start..<min(list.count, start + perPage)]) : []
        let body = """
            {"data":[\(slice.map(\.json).joined(separator: ","))],
            "links":{"first":null,"last":null,"prev":null,"next":null},
            "meta":{"current_page":\(page),"from":\(slice.isEmpty ? "null" : "\(start + 1)"),"last_page":\(lastPage),
            "per_page":\(perPage),"to":\(slice.isEmpty ? "null" : "\(start + slice.count)"),"total":\(list.count)}}
            """
        return try InvoicePage(json: JSONNode.parse(Array(body.utf8)))
    }

    /// Walks `list` to the end or `budget` reads; `between` changes the list after each read.
    @discardableResult
    static func walk(
        _ lookup: inout TradeNoLookup, _ list: inout [Entry], budget: Int = 1_000,
        between: (inout [Entry], Int) -> Void = { _, _ in }
    ) throws -> [Int] {
        var pages: [Int] = []
        while let next = lookup.nextPage, pages.count < budget {
            pages.append(next)
            try lookup.read(page: next, page(next, of: list))
            between(&list, pages.count)
        }
        return pages
    }

    static func newLookup() -> TradeNoLookup {
        TradeNoLookup(tradeNo: TradeNo(target), machineID: machine, since: since)
    }

    /// `newer` invoices of other machines after ours, and `older` ones from an hour before.
    static func newestFirst(newer: Int, older: Int = 150) -> [Entry] {
        let newerOnes = (0..<newer).map { other($0, at: since.addingTimeInterval(TimeInterval(1 + $0))) }
        let olderOnes = (0..<older).map { other(100_000 + $0, at: since.addingTimeInterval(-3600 - TimeInterval($0))) }
        return newerOnes.reversed() + [ours()] + olderOnes
    }

    @Test func aNewestFirstListIsReadUntilThePageThatReachesOlderInvoices() throws {
        var list = Self.newestFirst(newer: 350)
        var lookup = Self.newLookup()
        let pages = try Self.walk(&lookup, &list)
        #expect(pages == [1, 2, 3, 4], "ours is on page 4, which also holds older invoices")
        #expect(lookup.isComplete)
        #expect(lookup.matchesOldestFirst.map(\.reference.rawValue) == ["ref-target"])
    }

    @Test func anOldestFirstListIsWalkedBackFromItsLastPage() throws {
        var list = Array(Self.newestFirst(newer: 350).reversed())
        var lookup = Self.newLookup()
        let pages = try Self.walk(&lookup, &list)
        #expect(pages == [1, 6, 5, 4, 3, 2], "page 1 tells the order; then from the newest page back to ours")
        #expect(lookup.matchesOldestFirst.map(\.reference.rawValue) == ["ref-target"])
    }

    @Test func aListOfNoOrderIsReadToItsEnd() throws {
        // Every invoice in the same second: no order can be read from a page.
        var list = (0..<250).map { Self.other($0, at: Self.since) }
        list.insert(Self.ours(), at: 120)
        var lookup = Self.newLookup()
        let pages = try Self.walk(&lookup, &list)
        #expect(pages == [1, 2, 3])
        #expect(lookup.matchesOldestFirst.count == 1)
    }

    @Test func theHorizonEndsAWalkThatFindsNothing() throws {
        var list = Self.newestFirst(newer: 120)
        list.removeAll { $0.tradeNo == Self.target }
        var lookup = Self.newLookup()
        let pages = try Self.walk(&lookup, &list)
        #expect(pages == [1, 2], "page 2 holds invoices from before the horizon: nothing older can be ours")
        #expect(lookup.isComplete && lookup.matchesOldestFirst.isEmpty)
    }

    @Test func invoicesNewerThanTheHorizonButOlderThanTheSessionAreStillRead() throws {
        // The board's clock may run ahead of the API's: invoices up to 10 min "older" are read.
        var list = (0..<150).map { Self.other($0, at: Self.since.addingTimeInterval(-60 - TimeInterval($0))) }
        list.insert(Self.ours(at: Self.since.addingTimeInterval(-300)), at: 140)
        var lookup = Self.newLookup()
        try Self.walk(&lookup, &list)
        #expect(lookup.matchesOldestFirst.count == 1)
    }

    @Test func invoicesDeletedBetweenPageReadsNeverHideOurs() throws {
        // Ours at 250: after page 1 it moves to 210, after page 2 to 170, onto a page already
        // read; a walk that never stepped back would miss it.
        var list = Self.newestFirst(newer: 250)
        var lookup = Self.newLookup()
        // After each read, the 40 newest invoices of the other machine are cancelled (soft-deleted):
        // everything behind them moves 40 places towards the front.
        let pages = try Self.walk(&lookup, &list) { list, _ in
            var left = 40
            list.removeAll { entry in
                guard left > 0, entry.machineID == "OTHER-01", entry.createdAt > Self.since else { return false }
                left -= 1
                return true
            }
        }
        #expect(lookup.matchesOldestFirst.map(\.reference.rawValue) == ["ref-target"])
        #expect(Set(pages).count < pages.count, "a page was read again after the shift: \(pages)")
    }

    @Test func malformedInvoicesOfOtherMachinesAreSkippedNotTheWalk() throws {
        var list = Self.newestFirst(newer: 180)
        for index in stride(from: 0, to: list.count, by: 7) where list[index].tradeNo != Self.target {
            list[index].malformed = LenientPageTests.breakages[index % LenientPageTests.breakages.count]
        }
        var lookup = Self.newLookup()
        try Self.walk(&lookup, &list)
        #expect(lookup.matchesOldestFirst.map(\.reference.rawValue) == ["ref-target"])
    }

    @Test func ourOwnMalformedInvoiceMakesThePageInconclusive() throws {
        var list = Self.newestFirst(newer: 130)
        let index = try #require(list.firstIndex { $0.tradeNo == Self.target })
        list[index].malformed = LenientPageTests.breakages[1]
        var lookup = Self.newLookup()
        try lookup.read(page: 1, Self.page(1, of: list))
        #expect(throws: LookupUnreadable.self) { try lookup.read(page: 2, Self.page(2, of: list)) }
        #expect(lookup.nextPage == 2, "the page is read again at the next try")
        #expect(lookup.matchesOldestFirst.isEmpty)
    }

    @Test func aSpentBudgetLeavesAWalkToGoOnFromWhereItStopped() throws {
        var list = Self.newestFirst(newer: 1_200)
        var lookup = Self.newLookup()
        #expect(try Self.walk(&lookup, &list, budget: 10) == Array(1...10))
        #expect(!lookup.isComplete && lookup.nextPage == 11 && lookup.requests == 10)
        #expect(lookup.matchesOldestFirst.isEmpty, "not found is not known yet")
        #expect(try Self.walk(&lookup, &list, budget: 10) == [11, 12, 13])
        #expect(lookup.isComplete && lookup.requests == 13)
        #expect(lookup.matchesOldestFirst.count == 1)
    }

    @Test func aWalkKeptAsTextGoesOnAfterARestartWithItsMatches() throws {
        // A duplicate of ours (a repeated create) on page 1, the first one behind 1,200 others.
        var list = Self.newestFirst(newer: 1_200)
        list.insert(Self.ours(at: Self.since.addingTimeInterval(1_300), reference: "ref-repeat"), at: 0)
        var lookup = Self.newLookup()
        try Self.walk(&lookup, &list, budget: 10)
        let kept = try #require(TradeNoLookup.Progress(text: lookup.progress.text))
        #expect(kept == lookup.progress)
        #expect(kept.matches.map(\.reference) == ["ref-repeat"])
        #expect(kept.cutoffMilliseconds == Int64(Self.since.timeIntervalSince1970 * 1000) - 600_000)
        // After the restart the match's invoice is read again by reference (it may have changed).
        let repeatInvoice = try #require(
            try Self.page(1, of: list).data.first { $0.reference.rawValue == "ref-repeat" })
        var resumed = TradeNoLookup(resuming: kept, matches: [repeatInvoice])
        #expect(resumed == lookup)
        #expect(try Self.walk(&resumed, &list) == [11, 12, 13])
        #expect(resumed.matchesOldestFirst.map(\.reference.rawValue) == ["ref-target", "ref-repeat"])
        #expect(TradeNoLookup.Progress(text: "not json") == nil)
    }

    /// Random lists: any order, any number of newer invoices, malformed invoices of any kind mixed
    /// in, invoices deleted between reads: the good one is always found, within a bounded walk.
    @Test func theGoodInvoiceIsAlwaysFoundAmongRandomGarbage() throws {
        var rng = SplitMix64(seed: 0x22_100C)
        for round in 0..<60 {
            var list = Self.newestFirst(
                newer: Int.random(in: 0..<450, using: &rng), older: Int.random(in: 0..<200, using: &rng))
            for index in list.indices
            where list[index].tradeNo != Self.target && Int.random(in: 0..<5, using: &rng) == 0 {
                list[index].malformed = LenientPageTests.breakages.randomElement(using: &rng)!
            }
            let oldestFirst = Bool.random(using: &rng)
            if oldestFirst { list.reverse() }
            let deletes = Bool.random(using: &rng) ? Int.random(in: 1..<120, using: &rng) : 0
            var rngCopy = rng
            var lookup = Self.newLookup()
            let pages = try Self.walk(&lookup, &list, budget: 400) { list, _ in
                for _ in 0..<deletes {
                    let candidates = list.indices.filter { list[$0].tradeNo != Self.target }
                    guard let index = candidates.randomElement(using: &rngCopy) else { return }
                    list.remove(at: index)
                }
            }
            rng = rngCopy
            #expect(lookup.isComplete, "round \(round): walk not complete after \(pages.count) reads")
            #expect(
                lookup.matchesOldestFirst.map(\.reference.rawValue) == ["ref-target"],
                "round \(round) (oldest first: \(oldestFirst), deletes: \(deletes)): read \(pages)")
        }
    }
}
