import ControllerLink
import ControllerSimulator
import Foundation
import KioskCore
import Testing

/// The link and codec against the simulated Qibixx adapter on a pty: every behaviour of
/// docs/qibixx-mdb-notes.md as it goes over a real terminal device, CR LF and r,ACK included.
@Suite("Qibixx adapter over a pty")
struct QibixxAdapterLinkTests {
    static let usd = Currency(iso: "USD")!
    static func dollars(_ cents: Int64) -> Money { Money(minorUnits: cents, currency: usd) }

    private static func isHello(_ event: ControllerEvent) -> Bool {
        if case .hello = event { true } else { false }
    }

    /// A harness whose adapter was set up and enabled by the machine, for the length of `body`
    /// (stopped after it, also when it throws).
    private func withReady<Result>(
        _ model: QibixxAdapterModel = QibixxAdapterModel(), qibixx: QibixxSettings? = nil,
        probeInterval: Duration = .seconds(30), _ body: (LinkHarness) async throws -> Result
    ) async throws -> Result {
        try await LinkHarness.with(.qibixxMDB, adapter: model, qibixx: qibixx, probeInterval: probeInterval) { h in
            try await h.recorder.up()
            try await h.link.send(.ready)
            _ = try await h.recorder.controller("hello", where: Self.isHello)
            return try await body(h)
        }
    }

    private func vendRequest(
        _ h: LinkHarness, amount: String = "1.00", product: String = "5"
    ) async throws -> VendRequest {
        try await h.simulator.adapterDoes("select") { $0.select(amount: amount, product: product) }
        guard
            case .vendRequested(let request) = try await h.recorder.controller(
                "vend request",
                where: {
                    if case .vendRequested = $0 { true } else { false }
                })
        else { preconditionFailure("matched a vend request") }
        return request
    }

    @Test func setUpConfiguresTheAdapterThenEnablesItAndASaleDispenses() async throws {
        try await withReady(qibixx: QibixxSettings(decimalPlaces: 2, scaleFactor: 1, vendTimeoutSeconds: 100)) { h in
            let model = await h.simulator.adapter!
            #expect(
                model.configuration == [
                    "mdb-always-idle": "1", "mdb-currency-code": "0x1840", "mdb-decimal-places": "2",
                    "mdb-scale-factor": "1",
                    "mdb-timeout-vend": "100",
                ])
            #expect(
                Array(model.received.prefix(7)) == [
                    "C,0", "C,SETCONF,mdb-always-idle=1", "C,SETCONF,mdb-currency-code=0x1840",
                    "C,SETCONF,mdb-decimal-places=2",
                    "C,SETCONF,mdb-scale-factor=1", "C,SETCONF,mdb-timeout-vend=100", "C,1",
                ])
            let request = try await vendRequest(h)
            #expect(request.price == Self.dollars(100) && request.product == ProductCode("5")!)
            try await h.link.send(.dispense(request.id, price: request.price))
            try await h.simulator.waitForLine("C,VEND,1.00")
            try await h.simulator.adapterDoes("dispense") { $0.dispensed() }
            #expect(
                try await h.recorder.controller("dispensed", where: { if case .dispensed = $0 { true } else { false } })
                    == .dispensed(request.id))
        }
    }

    @Test func aRefusedParameterIsReportedByNameAndTheReaderIsNotEnabled() async throws {
        var model = QibixxAdapterModel()
        model.refusedParameters = ["mdb-scale-factor"]
        try await LinkHarness.with(.qibixxMDB, adapter: model) { h in
            try await h.recorder.up()
            try await h.link.send(.ready)
            let event = try await h.recorder.controller("setUpRefused") {
                if case .setUpRefused(let reason) = $0 { reason.contains("SETCONF") } else { false }
            }
            guard case .setUpRefused(let reason) = event else { preconditionFailure("matched setUpRefused") }
            #expect(reason.contains("mdb-scale-factor=1") && reason.contains("qibixx.scale_factor"))
            #expect(await h.simulator.adapter?.received.contains("C,1") == false)
            #expect(h.logs.messages(atLeast: .notice).contains { $0.contains("mdb-scale-factor") })
        }
    }

    @Test func theMachineCancellingIsAnAbort() async throws {
        try await withReady { h in
            let request = try await vendRequest(h)
            try await h.simulator.adapterDoes("cancel") { $0.cancelled() }
            #expect(
                try await h.recorder.controller("abort", where: { if case .vendAborted = $0 { true } else { false } })
                    == .vendAborted(request.id))
        }
    }

    @Test func aFailedVendAfterApprovalIsAFailedDispense() async throws {
        try await withReady { h in
            let request = try await vendRequest(h, amount: "2.50", product: "7")
            try await h.link.send(.dispense(request.id, price: request.price))
            try await h.simulator.waitForLine("C,VEND,2.50")
            try await h.simulator.adapterDoes("fail") { $0.failed() }
            let event = try await h.recorder.controller("failed") {
                if case .dispenseFailed = $0 { true } else { false }
            }
            guard case .dispenseFailed(request.id, _) = event else { preconditionFailure("matched a failure") }
        }
    }

    @Test func anUnservableRequestIsDeniedAtOnce() async throws {
        try await withReady(qibixx: QibixxSettings(decimalPlaces: 1)) { h in
            try await h.simulator.adapterDoes("select") { $0.select(amount: "1.25", product: "5") }
            try await h.simulator.waitForLine("C,VEND,-1")
            #expect(await h.simulator.adapter?.phase == .enabled)
        }
    }

    @Test func aReopenWhileApprovedKeepsTheVendWhenTheAdapterStayedOn() async throws {
        try await withReady { h in
            let request = try await vendRequest(h)
            try await h.link.send(.dispense(request.id, price: request.price))
            try await h.simulator.waitForLine("C,VEND,1.00")
            try await h.simulator.replug()  // the UART reopens; the adapter stays on and keeps the vend
            try await h.recorder.down()
            try await h.recorder.up()
            try await h.link.send(.ready)
            try await h.simulator.waitForLine("C,1")
            try await Task.sleep(for: .milliseconds(100))  // the adapter answers c,ERR,"cashless is on"
            try await h.simulator.adapterDoes("dispense") { $0.dispensed() }
            #expect(
                try await h.recorder.controller("dispensed", where: { if case .dispensed = $0 { true } else { false } })
                    == .dispensed(request.id))
            #expect(await h.simulator.adapter?.received.contains("C,0") == true)  // only the first set-up's
            #expect(await h.simulator.adapter?.received.filter { $0 == "C,0" }.count == 1)
        }
    }

    @Test func anAdapterResetAfterApprovalIsUnknownAndTheSetUpRunsAgain() async throws {
        try await withReady { h in
            let request = try await vendRequest(h)
            try await h.link.send(.dispense(request.id, price: request.price))
            try await h.simulator.waitForLine("C,VEND,1.00")
            let lines = try await h.simulator.adapterDoes("reset") { Optional($0.machineReset()) }
            #expect(lines.first == "c,ERR,VEND 5")
            let event = try await h.recorder.controller("unknown") {
                if case .dispenseUnknown = $0 { true } else { false }
            }
            guard case .dispenseUnknown(request.id, _) = event else { preconditionFailure("matched unknown") }
        }
    }

    @Test func aSilentPowerCycleIsFoundByTheProbesAndTheAdapterIsSetUpAgain() async throws {
        try await withReady(probeInterval: .milliseconds(150)) { h in
            await h.simulator.adapterPowerCycles()
            #expect(await h.simulator.adapter?.configuration.isEmpty == true)
            // The state probe (C,1) finds it off; the set-up runs again.
            try await h.simulator.waitForLine("C,SETCONF,mdb-scale-factor=1")  // the first set-up's
            try await h.simulator.waitForLine("C,SETCONF,mdb-scale-factor=1", timeout: .seconds(5))
            let model = await h.simulator.adapter!
            #expect(
                model.configuration == [
                    "mdb-always-idle": "1", "mdb-currency-code": "0x1840", "mdb-decimal-places": "2",
                    "mdb-scale-factor": "1",
                ])
            #expect(model.received.filter { $0 == "C,0" }.count == 2)
        }
    }

    @Test func aMuteAdapterEndsTheApprovedVendAsUnknownAndIsSetUpWhenItAnswers() async throws {
        try await withReady(probeInterval: .milliseconds(150)) { h in
            let request = try await vendRequest(h)
            try await h.link.send(.dispense(request.id, price: request.price))
            try await h.simulator.waitForLine("C,VEND,1.00")
            await h.simulator.adapterPowerCycles()
            await h.simulator.setAdapterAnswers(false)
            let event = try await h.recorder.controller("unknown") {
                if case .dispenseUnknown = $0 { true } else { false }
            }
            guard case .dispenseUnknown(request.id, _) = event else { preconditionFailure("matched unknown") }
            await h.simulator.setAdapterAnswers(true)
            _ = try await h.recorder.controller("hello again", where: Self.isHello)
            #expect(await h.simulator.adapter?.configuration["mdb-always-idle"] == "1")
        }
    }

    @Test func outOfServiceWaitsForTheVendToEnd() async throws {
        try await withReady { h in
            let request = try await vendRequest(h)
            try await h.link.send(.outOfService(reason: "API down"))
            try await h.link.send(.dispense(request.id, price: request.price))
            try await h.simulator.waitForLine("C,VEND,1.00")
            #expect(await h.simulator.adapter?.received.filter { $0 == "C,0" }.count == 1)  // the set-up's only
            try await h.simulator.adapterDoes("dispense") { $0.dispensed() }
            _ = try await h.recorder.controller("dispensed", where: { if case .dispensed = $0 { true } else { false } })
            try await h.simulator.waitForLine("C,0")  // the set-up's
            try await h.simulator.waitForLine("C,0")
            let received = await h.simulator.adapter!.received
            #expect(received.lastIndex(of: "C,0")! > received.lastIndex(of: "C,VEND,1.00")!)
        }
    }

    @Test func startSessionMachinesGetASessionAndCanBuy() async throws {
        try await withReady(qibixx: QibixxSettings(sessionMode: .startSession)) { h in
            try await h.simulator.waitForLine("C,START,0")
            #expect(await h.simulator.adapter?.alwaysIdle == false)
            #expect(await h.simulator.adapter?.phase == .idle)
            let request = try await vendRequest(h)
            try await h.link.send(.deny(request.id, .timeout))
            try await h.simulator.waitForLine("C,VEND,-1")
            try await h.simulator.waitForLine("C,STOP")
            // The session closed; ENABLED again brings the next C,START.
            try await h.simulator.waitForLine("C,START,0")
        }
    }
}
