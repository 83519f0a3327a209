import Testing
import VendSession

@testable import KioskDaemon

/// The service gate's decisions without I/O: causes in, actions out.
@Suite("ServiceGateMachine")
struct ServiceGateMachineTests {
    static let apiDown = ServiceProblem(reason: "API unreachable", detail: "API unreachable (ping: refused)")
    static let linkDown = ServiceProblem(reason: "serial link down", detail: "serial link down (gone)")
    static let journal = ServiceProblem(reason: "journal unwritable", detail: "journal unwritable: EROFS")
    static let display = ServiceProblem(reason: "display unavailable", detail: "display unavailable (fb0)")
    static let adapter = ServiceProblem(reason: "card reader set-up refused", detail: "payment adapter set-up refused")

    /// The actions that tell the coordinator, in order.
    private func told(_ actions: [ServiceGateMachine.Action]) -> [ServiceState] {
        actions.compactMap { if case .tell(let state, _) = $0 { state } else { nil } }
    }

    /// A machine whose start-up finished: link open, API checked.
    private func started() -> ServiceGateMachine {
        var machine = ServiceGateMachine()
        _ = machine.apply(.linkUp)
        _ = machine.apply(.api(nil))
        return machine
    }

    @Test func itStartsOutOfServiceStartingUntilTheLinkOpenedAndTheAPIWasChecked() {
        var machine = ServiceGateMachine()
        #expect(machine.initialActions == [.status("starting up: opening the serial link")])
        #expect(machine.state == .outOfService(.starting, reason: "starting up"))
        let up = machine.apply(.linkUp)
        #expect(
            up == [
                .log(.info, "starting up: checking the API"), .available(false),
                .status("starting up: checking the API"),
                .tell(.outOfService(.starting, reason: "starting up"), reannounce: true),
            ])
        let checked = machine.apply(.api(nil))
        #expect(
            checked == [
                .log(.notice, "in service: taking payments"), .available(true), .status(nil),
                .tell(.inService, reannounce: false),
            ])
    }

    @Test func aLinkThatFailsBeforeItOpenedNamesTheLinkNotTheStart() {
        var machine = ServiceGateMachine()
        let actions = machine.apply(.linkDown(Self.linkDown))
        #expect(actions.first == .log(.warning, "out of service: serial link down (gone)"))
        #expect(told(actions) == [.outOfService(.link, reason: "serial link down")])
    }

    @Test func theFirstCauseInOrderWinsAndTheNextShowsWhenItClears() {
        var machine = started()
        _ = machine.apply(.api(Self.apiDown))
        #expect(machine.state == .outOfService(.api, reason: "API unreachable"))
        _ = machine.apply(.display(Self.display))
        #expect(machine.state == .outOfService(.display, reason: "display unavailable"))
        _ = machine.apply(.adapterSetUp(Self.adapter))
        #expect(machine.state == .outOfService(.adapterSetUp, reason: "card reader set-up refused"))
        _ = machine.apply(.linkDown(Self.linkDown))
        #expect(machine.state == .outOfService(.link, reason: "serial link down"))
        _ = machine.apply(.journal(Self.journal))
        #expect(machine.state == .outOfService(.journal, reason: "journal unwritable"))
        _ = machine.apply(.stopping)
        #expect(machine.state == .shuttingDown)
        // Clearing causes under a higher one changes nothing the controller hears.
        for change: ServiceGateMachine.Change in [.journal(nil), .linkUp, .adapterSetUp(nil), .display(nil), .api(nil)]
        {
            #expect(told(machine.apply(change)) == [.shuttingDown])
        }
        #expect(machine.problems.keys.sorted { "\($0)" < "\($1)" } == [.stopping])
    }

    @Test func causesClearInAnyOrderAndTheKioskComesBackWhenNoneHolds() {
        var machine = started()
        _ = machine.apply(.journal(Self.journal))
        _ = machine.apply(.api(Self.apiDown))
        #expect(told(machine.apply(.journal(nil))) == [.outOfService(.api, reason: "API unreachable")])
        let back = machine.apply(.api(nil))
        #expect(back.contains(.available(true)))
        #expect(back.contains(.log(.notice, "in service: taking payments")))
        #expect(told(back) == [.inService])
    }

    @Test func aStateIsLoggedOnceWhileItHolds() {
        var machine = started()
        let first = machine.apply(.api(Self.apiDown))
        let again = machine.apply(.api(Self.apiDown))
        #expect(first.contains(.log(.warning, "out of service: API unreachable (ping: refused)")))
        #expect(!again.contains { if case .log = $0 { true } else { false } })
        // The coordinator is told every time; it decides what reaches the controller.
        #expect(told(again) == [.outOfService(.api, reason: "API unreachable")])
    }

    /// The link reopening asks the coordinator to tell the controller again; the gate itself
    /// never writes to the controller (it has no controller), so the coordinator's journal
    /// state decides what the controller hears.
    @Test func onlyTheLinkOpeningAsksForAReannouncement() {
        var machine = started()
        let changes: [ServiceGateMachine.Change] = [
            .api(nil), .display(nil), .adapterSetUp(nil), .journal(nil), .linkDown(Self.linkDown), .linkUp,
        ]
        let flags = changes.map { change in
            machine.apply(change).compactMap { if case .tell(_, let again) = $0 { again } else { nil } }
        }
        #expect(flags == [[false], [false], [false], [false], [false], [true]])
    }
}
