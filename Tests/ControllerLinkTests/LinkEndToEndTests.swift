import ControllerLink
import ControllerSimulator
import Foundation
import KioskCore
import Testing

@Suite("ControllerLink over a real pty")
struct LinkEndToEndTests {
    static let usd = LinkHarness.usd
    static func dollars(_ cents: Int64) -> Money { Money(minorUnits: cents, currency: usd) }

    @Test func vmcLineSaleFlowsBothWays() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            let sim = h.simulator

            try await sim.hello(name: "acme", version: "3.2")
            #expect(try await h.recorder.controller() == .hello(name: "acme", version: "3.2"))
            try await h.link.send(.ready)
            try await sim.waitForLine("READY")

            try await sim.vend(id: "v-1", product: "A5", price: "1.50")
            let id = VendID("v-1")!
            #expect(
                try await h.recorder.controller()
                    == .vendRequested(VendRequest(id: id, product: ProductCode("A5")!, price: Self.dollars(150))))
            try await h.link.send(.accept(id))
            try await sim.waitForLine("ACCEPT v-1")
            try await h.link.send(.dispense(id, price: Self.dollars(150)))
            try await sim.waitForLine("DISPENSE v-1")
            try await sim.dispensed(id: "v-1")
            #expect(try await h.recorder.controller() == .dispensed(id))

            try await sim.ping()
            #expect(try await h.recorder.controller() == .ping)
            try await h.link.send(.pong)
            try await sim.waitForLine("PONG")

            // The pty runs raw: nothing the controller sent is echoed back to it.
            #expect(await sim.received == ["READY", "ACCEPT v-1", "DISPENSE v-1", "PONG"])
        }
    }

    @Test func vmcLineAbortFailedAndDenyFlow() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            let sim = h.simulator
            try await sim.vend(id: "a", product: "1", price: "2")
            _ = try await h.recorder.controller()
            try await sim.abort(id: "a")
            #expect(try await h.recorder.controller() == .vendAborted(VendID("a")!))
            try await h.link.send(.deny(VendID("a")!, .aborted))
            try await sim.waitForLine("DENY a aborted")
            try await sim.failed(id: "b", reason: "column 4 empty")
            #expect(try await h.recorder.controller() == .dispenseFailed(VendID("b")!, reason: "column 4 empty"))
        }
    }

    @Test func vmcLineMalformedLineIsReportedAndAnswered() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            try await h.simulator.sendLine("VEND x y 1.999")
            guard case .malformed(let line, let reason) = try await h.recorder.controller() else {
                Issue.record("expected malformed")
                return
            }
            #expect(line == "VEND x y 1.999")
            try await h.link.send(.error(message: reason))
            let answered = try await h.simulator.waitForLine(matching: "an ERROR line") { $0.hasPrefix("ERROR ") }
            #expect(answered.contains("more than 2 digits"))
        }
    }

    @Test func framingEdgesSurviveThePty() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            let sim = h.simulator
            try await sim.sendRaw(Array("PI".utf8))
            try await sim.sendRaw(Array("NG\r".utf8))
            try await sim.sendRaw(Array("\nHELLO a 1\rPING\n".utf8))
            #expect(try await h.recorder.controller() == .ping)
            #expect(try await h.recorder.controller() == .hello(name: "a", version: "1"))
            #expect(try await h.recorder.controller() == .ping)
            try await sim.sendRaw(Array(repeating: UInt8(ascii: "x"), count: 1000) + Array("\nPING\n".utf8))
            guard case .malformed(_, let reason) = try await h.recorder.controller() else {
                Issue.record("overlong line must be reported")
                return
            }
            #expect(reason.contains("longer than 256"))
            #expect(try await h.recorder.controller() == .ping)
            try await sim.sendRaw([0xC3, 0x28, 0x0A] + Array("PING\n".utf8))
            guard case .malformed(_, let utf8Reason) = try await h.recorder.controller() else {
                Issue.record("invalid UTF-8 must be reported")
                return
            }
            #expect(utf8Reason.contains("UTF-8"))
            #expect(try await h.recorder.controller() == .ping)
        }
    }

    @Test func burstOfVendsInOneWriteAllArrive() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            let text = (0..<200).map { "VEND id\($0) p 0.0\($0 % 9 + 1)\n" }.joined()
            try await h.simulator.sendRaw(Array(text.utf8))
            for n in 0..<200 {
                guard case .vendRequested(let request) = try await h.recorder.controller() else {
                    Issue.record("event \(n) is not a vend")
                    break
                }
                #expect(request.id == VendID("id\(n)")!)
            }
        }
    }

    /// Answers the set-up line by line as the adapter does (`c,SET,OK` to each `C,SETCONF`),
    /// up to the final `C,1`.
    static func setUpByHand(_ sim: ControllerSimulator) async throws {
        try await sim.waitForLine("C,0")
        for parameter in [
            "mdb-always-idle=1", "mdb-currency-code=0x1840", "mdb-decimal-places=2", "mdb-scale-factor=1",
        ] {
            try await sim.waitForLine("C,SETCONF,\(parameter)")
            try await sim.sendLine("c,SET,OK")
        }
        try await sim.waitForLine("C,1")
    }

    @Test func qibixxSaleFlowsBothWays() async throws {
        try await LinkHarness.with(.qibixxMDB) { h in
            try await h.recorder.up()
            let sim = h.simulator
            try await h.link.send(.ready)
            try await Self.setUpByHand(sim)
            #expect(try await h.recorder.controller() == .setUpDone)
            try await sim.mdbEnableSequence()
            guard case .unavailable = try await h.recorder.controller(),
                case .unavailable = try await h.recorder.controller()
            else {
                Issue.record("INACTIVE and DISABLED must report unavailable")
                return
            }
            #expect(try await h.recorder.controller() == .hello(name: "qibixx-mdb", version: "ENABLED"))

            try await sim.vendRequest(amount: "1.00", product: "5")
            let id = VendID("mdb-1")!
            #expect(
                try await h.recorder.controller()
                    == .vendRequested(VendRequest(id: id, product: ProductCode("5")!, price: Self.dollars(100))))
            try await h.link.send(.accept(id))
            try await h.link.send(.displayText("Scan to pay"))
            try await sim.waitForLine("C,DISPLAY,Scan to pay")
            try await h.link.send(.dispense(id, price: Self.dollars(100)))
            try await sim.waitForLine("C,VEND,1.00")
            try await sim.vendSuccess()
            #expect(try await h.recorder.controller() == .dispensed(id))

            // Denied vend: C,VEND,-1 then C,STOP.
            try await sim.vendRequest(amount: "2.50", product: "7")
            let second = VendID("mdb-2")!
            #expect(
                try await h.recorder.controller()
                    == .vendRequested(VendRequest(id: second, product: ProductCode("7")!, price: Self.dollars(250))))
            try await h.link.send(.deny(second, .timeout))
            try await sim.waitForLine("C,VEND,-1")
            try await sim.waitForLine("C,STOP")

            // Failed dispense after approval.
            try await sim.vendRequest(amount: "0.75", product: "2")
            let third = VendID("mdb-3")!
            _ = try await h.recorder.controller()
            try await h.link.send(.dispense(third, price: Self.dollars(75)))
            try await sim.waitForLine("C,VEND,0.75")
            try await sim.vendFailure(code: 3)
            #expect(
                try await h.recorder.controller()
                    == .dispenseFailed(
                        third, reason: "the machine reported the vend failed after approval (c,ERR,VEND 3)"))
        }
    }

    @Test func qibixxMachineCancellingAVendAbortsIt() async throws {
        try await LinkHarness.with(.qibixxMDB) { h in
            try await h.recorder.up()
            try await h.link.send(.ready)
            try await Self.setUpByHand(h.simulator)
            #expect(try await h.recorder.controller() == .setUpDone)
            try await h.simulator.mdbStatus("ENABLED")
            _ = try await h.recorder.controller()
            try await h.simulator.vendRequest(amount: "1.00", product: "5")
            _ = try await h.recorder.controller()
            try await h.simulator.vendCancelledByMachine()
            #expect(try await h.recorder.controller() == .vendAborted(VendID("mdb-1")!))
        }
    }

    @Test func qibixxDispenseForAVendTheMachineDroppedIsNotSent() async throws {
        try await LinkHarness.with(.qibixxMDB) { h in
            try await h.recorder.up()
            await #expect(throws: LinkError.self) {
                try await h.link.send(.dispense(VendID("mdb-9")!, price: Self.dollars(100)))
            }
        }
    }

    @Test func concurrentSendsArriveAsWholeLines() async throws {
        try await LinkHarness.with(.vmcLine) { h in
            try await h.recorder.up()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<100 {
                    group.addTask {
                        try await h.link.send(.error(message: "message \(n) " + String(repeating: "x", count: 200)))
                    }
                }
                try await group.waitForAll()
            }
            var seen: Set<Int> = []
            for _ in 0..<100 {
                let line = try await h.simulator.waitForLine(matching: "an ERROR line") {
                    $0.hasPrefix("ERROR message ")
                }
                let fields = line.split(separator: " ")
                #expect(fields.count == 4 && fields[3] == Substring(String(repeating: "x", count: 200)))
                if fields.count > 2, let n = Int(fields[2]) { seen.insert(n) }
            }
            #expect(seen == Set(0..<100))
        }
    }
}
