import ControllerLink
import ControllerSimulator
import Foundation
import KioskCore
import KioskTestSupport
import Logging

/// Log lines captured for assertions (thread-safe).
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(Logger.Level, String)] = []

    func append(_ level: Logger.Level, _ message: String) {
        lock.lock()
        entries.append((level, message))
        lock.unlock()
    }

    func messages(atLeast level: Logger.Level) -> [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries.filter { $0.0 >= level }.map(\.1)
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.append(event.level, event.message.description)
    }
}

/// A simulator, a link on its device, and a recorder of the link's events.
struct LinkHarness {
    let simulator: ControllerSimulator
    let link: ControllerLink
    let recorder: EventRecorder
    let logs: LogCapture
    let task: Task<Void, any Error>

    static let usd = Currency(iso: "USD")!
    static let fastBackoff = ControllerLink.Backoff(initial: .milliseconds(10), maximum: .milliseconds(80))

    /// - Parameter adapter: for qibixx-mdb, a simulated adapter answering the board's lines.
    static func start(
        _ kind: ControllerProtocolKind, plugged: Bool = true, adapter: QibixxAdapterModel? = nil,
        qibixx: QibixxSettings? = nil, probeInterval: Duration = .seconds(30)
    ) async throws -> LinkHarness {
        let simulator = try ControllerSimulator(kind: kind)
        if let adapter { await simulator.actAsAdapter(adapter) }
        if plugged { try await simulator.plug() }
        let logs = LogCapture()
        let logger = Logger(label: "controller-link-test") { _ in CapturingLogHandler(capture: logs) }
        let sequence = VendIDSequence(prefix: "mdb")
        let link = ControllerLink(
            options: SerialOptions(device: simulator.devicePath), protocol: kind, currency: usd, qibixx: qibixx,
            probeInterval: probeInterval, makeVendID: { sequence.make() }, logger: logger, backoff: fastBackoff)
        let recorder = EventRecorder()
        await recorder.start(link.events)
        let task = Task { try await link.run() }
        return LinkHarness(simulator: simulator, link: link, recorder: recorder, logs: logs, task: task)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        await simulator.shutdown()
    }

    /// A harness for the length of `body`; `stop()` is awaited after it, also when it throws.
    static func with<Result>(
        _ kind: ControllerProtocolKind, plugged: Bool = true, adapter: QibixxAdapterModel? = nil,
        qibixx: QibixxSettings? = nil, probeInterval: Duration = .seconds(30),
        _ body: (LinkHarness) async throws -> Result
    ) async throws -> Result {
        let harness = try await start(
            kind, plugged: plugged, adapter: adapter, qibixx: qibixx, probeInterval: probeInterval)
        return try await withTearDown(harness, tearDown: { await $0.stop() }, body)
    }
}
