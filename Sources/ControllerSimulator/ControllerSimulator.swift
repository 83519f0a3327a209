import ControllerLink
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Why a simulator call did not work.
public enum SimulatorError: Error, Sendable, CustomStringConvertible {
    /// No matching line from the daemon within the timeout.
    case timedOut(waitingFor: String, after: Duration, received: [String])
    /// The simulated controller is unplugged.
    case unplugged(device: String)
    case io(LinkError)
    case setup(String)

    public var description: String {
        switch self {
        case .timedOut(let what, let after, let received):
            return "no line from the daemon matching \(what) within \(after); received so far: \(received)"
        case .unplugged(let device):
            return "the simulated controller at \(device) is unplugged"
        case .io(let error):
            return error.description
        case .setup(let message):
            return message
        }
    }
}

/// A vending machine's controller on a pseudo-terminal, for tests and the demo.
///
/// The daemon opens `devicePath`, a symlink in a private temp directory that points at the
/// pty's slave side. `unplug()` closes the master (the daemon's reads fail with EIO/POLLHUP)
/// and removes the symlink (the device is gone); `plug()` makes a new pty and points the
/// symlink at it, as a re-plugged USB adapter would reappear. Every line the daemon writes is
/// recorded; `waitForLine` waits for one, always with a timeout.
public actor ControllerSimulator {
    /// Which protocol the helpers speak (`sendLine` works for either).
    public nonisolated let kind: ControllerProtocolKind
    /// The stable path the daemon opens.
    public nonisolated let devicePath: String
    /// The private directory holding `devicePath`; removed by `shutdown()`.
    public nonisolated let directory: String

    private var master: SerialChannel?
    /// A slave descriptor the simulator keeps open, so the master does not see a hang-up
    /// while the daemon reopens its side.
    private var spareSlave: Int32 = -1
    private var readerTask: Task<Void, Never>?
    private var framer = LineFramer(maxLineBytes: 4096)
    /// Every line the daemon sent, in order.
    public private(set) var received: [String] = []
    private var consumed: Set<Int> = []
    /// When set (qibixx-mdb), the simulator answers every board line as the adapter would.
    public private(set) var adapter: QibixxAdapterModel?
    /// When false, the adapter is mute (it does not answer; a hung or rebooting adapter).
    public var adapterAnswers = true
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiter = 0

    private struct Waiter {
        let matches: @Sendable (String) -> Bool
        let continuation: CheckedContinuation<String, any Error>
    }

    /// Creates the simulator's directory; call `plug()` to make the device appear.
    public init(kind: ControllerProtocolKind) throws(SimulatorError) {
        self.kind = kind
        let template = FileManager.default.temporaryDirectory.path + "/drippay-sim-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw .setup("cannot create a temp directory from \(template)") }
        directory = String(cString: made)
        devicePath = directory + "/controller"
    }

    /// A simulator that is plugged in already.
    public static func plugged(kind: ControllerProtocolKind) async throws(SimulatorError) -> ControllerSimulator {
        let simulator = try ControllerSimulator(kind: kind)
        try await simulator.plug()
        return simulator
    }

    public var isPlugged: Bool { master != nil }

    /// A new pty behind `devicePath` (replacing the symlink atomically).
    public func plug() throws(SimulatorError) {
        guard master == nil else { return }
        let pty: (master: Int32, slave: Int32, path: String)
        do {
            pty = try SerialChannel.openPseudoTerminal()
        } catch {
            throw .io(error)
        }
        let staging = devicePath + ".new"
        unlink(staging)
        guard symlink(pty.path, staging) == 0, rename(staging, devicePath) == 0 else {
            SerialChannel.closeDescriptor(pty.master)
            SerialChannel.closeDescriptor(pty.slave)
            throw .setup("cannot point \(devicePath) at \(pty.path)")
        }
        let channel: SerialChannel
        do {
            channel = try SerialChannel.adopting(descriptor: pty.master, name: "simulator master for \(pty.path)")
        } catch {
            SerialChannel.closeDescriptor(pty.slave)
            throw .io(error)
        }
        master = channel
        spareSlave = pty.slave
        framer.reset()
        readerTask = Task { [weak self] in
            for await event in channel.reads {
                guard case .bytes(let bytes) = event else { continue }
                await self?.absorb(bytes)
            }
        }
    }

    /// Pulls the cable: the master closes (the daemon's side gets EIO / POLLHUP) and the
    /// device path disappears.
    public func unplug() {
        unlink(devicePath)
        master?.close()
        master = nil
        readerTask = nil
        if spareSlave >= 0 {
            SerialChannel.closeDescriptor(spareSlave)
            spareSlave = -1
        }
    }

    /// Unplug, then plug a new pty in at the same path.
    public func replug() throws(SimulatorError) {
        unplug()
        try plug()
    }

    /// Unplugs, fails every waiter and removes the temp directory.
    public func shutdown() {
        unplug()
        for (_, waiter) in waiters {
            waiter.continuation.resume(throwing: SimulatorError.unplugged(device: devicePath))
        }
        waiters.removeAll()
        unlink(devicePath + ".new")
        rmdir(directory)
    }

    // MARK: talking

    /// The line terminator this controller uses: LF for vmc-line, CR LF for the MDB adapter.
    public nonisolated var lineTerminator: String { kind == .qibixxMDB ? "\r\n" : "\n" }

    /// Writes one line (the terminator is added).
    public func sendLine(_ line: String) throws(SimulatorError) {
        try sendRaw(Array((line + lineTerminator).utf8))
    }

    /// Writes bytes exactly as given (for framing tests: partial lines, garbage, bursts).
    public func sendRaw(_ bytes: [UInt8]) throws(SimulatorError) {
        guard let master else { throw .unplugged(device: devicePath) }
        do {
            try master.write(bytes)
        } catch {
            throw .io(error)
        }
    }

    /// Waits for the first line from the daemon, not returned by an earlier wait, that
    /// matches; returns it. Throws `.timedOut` after `timeout`.
    public func waitForLine(
        matching description: String = "the predicate", timeout: Duration = .seconds(5),
        _ matches: @escaping @Sendable (String) -> Bool
    ) async throws -> String {
        if let index = received.indices.first(where: { !consumed.contains($0) && matches(received[$0]) }) {
            consumed.insert(index)
            return received[index]
        }
        let id = nextWaiter
        nextWaiter += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.expire(id, description: description, timeout: timeout)
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiters[id] = Waiter(matches: matches, continuation: continuation)
        }
    }

    /// Waits for exactly `line`.
    @discardableResult
    public func waitForLine(_ line: String, timeout: Duration = .seconds(5)) async throws -> String {
        try await waitForLine(matching: "'\(line)'", timeout: timeout) { $0 == line }
    }

    private func expire(_ id: Int, description: String, timeout: Duration) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        waiter.continuation.resume(
            throwing: SimulatorError.timedOut(waitingFor: description, after: timeout, received: received))
    }

    private func absorb(_ bytes: [UInt8]) {
        for output in framer.feed(bytes) {
            guard case .line(let line) = output else { continue }
            received.append(line)
            if adapter != nil, adapterAnswers, let answer = adapter?.receive(line), !answer.isEmpty {
                try? sendLines(answer)
            }
            let index = received.count - 1
            if let (id, waiter) = waiters.sorted(by: { $0.key < $1.key }).first(where: { $0.value.matches(line) }) {
                waiters[id] = nil
                consumed.insert(index)
                waiter.continuation.resume(returning: line)
            }
        }
    }
}

// MARK: vmc-line, from the controller's side

extension ControllerSimulator {
    public func hello(name: String = "sim-vmc", version: String = "1.0") throws(SimulatorError) {
        try sendLine("HELLO \(name) \(version)")
    }

    /// `price` as written on the wire (e.g. "1.50"), so tests can send bad prices too.
    public func vend(id: String, product: String, price: String) throws(SimulatorError) {
        try sendLine("VEND \(id) \(product) \(price)")
    }

    public func abort(id: String) throws(SimulatorError) { try sendLine("ABORT \(id)") }
    public func dispensed(id: String) throws(SimulatorError) { try sendLine("DISPENSED \(id)") }
    public func failed(id: String, reason: String) throws(SimulatorError) { try sendLine("FAILED \(id) \(reason)") }
    public func ping() throws(SimulatorError) { try sendLine("PING") }
}

// MARK: Qibixx MDB adapter, from the adapter's side

extension ControllerSimulator {
    /// Makes the simulator answer as a Qibixx adapter (`model`) from now on.
    public func actAsAdapter(_ model: QibixxAdapterModel = QibixxAdapterModel()) {
        adapter = model
    }

    public func setAdapterAnswers(_ answers: Bool) { adapterAnswers = answers }

    /// Changes the adapter model in place and writes the lines it reports (nil: the model
    /// could not do that now, which throws).
    @discardableResult
    public func adapterDoes(
        _ what: String, _ change: (inout QibixxAdapterModel) -> [String]?
    ) throws(SimulatorError) -> [String] {
        guard var model = adapter else { throw .setup("the simulator is not acting as a Qibixx adapter") }
        let lines = change(&model)
        adapter = model
        guard let lines else { throw .setup("the simulated adapter cannot \(what) in phase \(model.phase)") }
        try sendLines(lines)
        return lines
    }

    /// The adapter power-cycles silently (configuration lost, mute until C,1).
    public func adapterPowerCycles() {
        adapter?.powerCycle()
    }

    private func sendLines(_ lines: [String]) throws(SimulatorError) {
        for line in lines { try sendLine(line) }
    }

    /// What the adapter reports after `C,1` on a machine that enables the reader:
    /// INACTIVE, DISABLED, ENABLED, with the VMC's poll acks in between.
    public func mdbEnableSequence() throws(SimulatorError) {
        for line in ["c,1", "c,STATUS,INACTIVE", "r,ACK", "c,STATUS,DISABLED", "r,ACK", "c,STATUS,ENABLED", "r,ACK"] {
            try sendLine(line)
        }
    }

    /// `c,STATUS,<state>` (INACTIVE, DISABLED, ENABLED, IDLE, ...).
    public func mdbStatus(_ state: String) throws(SimulatorError) { try sendLine("c,STATUS,\(state)") }

    /// The customer chose `product` at `amount` (as written on the wire, e.g. "1.00").
    public func vendRequest(amount: String, product: String) throws(SimulatorError) {
        try sendLine("c,STATUS,VEND,\(amount),\(product)")
    }

    /// The product came out; the adapter returns to idle and enabled.
    public func vendSuccess() throws(SimulatorError) {
        for line in ["c,VEND,SUCCESS", "c,STATUS,IDLE", "c,STATUS,ENABLED"] { try sendLine(line) }
    }

    /// Dispensing failed after approval (`c,ERR,VEND <code>`).
    public func vendFailure(code: Int = 3) throws(SimulatorError) {
        try sendLine("c,ERR,VEND \(code)")
    }

    /// The machine gave up on its vend request (its own timeout or the customer's cancel):
    /// `c,ERR,VEND 1`, then back to idle and enabled.
    public func vendCancelledByMachine() throws(SimulatorError) {
        for line in ["c,ERR,VEND 1", "c,STATUS,IDLE", "c,STATUS,ENABLED"] { try sendLine(line) }
    }
}
