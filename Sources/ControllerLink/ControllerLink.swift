import KioskCore
import Logging

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The daemon's serial link to the vending machine's controller.
///
/// `run()` owns the device for as long as the daemon runs: it opens it, reads it, and when
/// the device is missing, unplugged or replaced (a pty whose master went away and came back
/// at the same path) it reopens it with capped exponential back-off. Each outage is logged
/// once and reported once as `.down`; each (re)open as `.up`. On `.up` the daemon should tell
/// the controller whether it takes payments (`send(.ready)` or `.outOfService`): the MDB
/// adapter in particular stays silent until it is enabled with `C,1`.
///
/// Concurrency: an actor. `run()` suspends while waiting for bytes (a reader thread blocked
/// in poll(2) feeds it), so `send` runs in between; decoding and encoding share the codec's
/// state on the actor. Cancel the task running `run()` to stop; `events` then finishes.
public actor ControllerLink {
    /// Capped exponential back-off between reopen attempts (KioskCore's).
    public typealias Backoff = KioskCore.Backoff

    /// Everything the link reports, in order. Single consumer.
    public nonisolated let events: AsyncStream<LinkEvent>
    /// The configured device path.
    public nonisolated let device: String

    private let continuation: AsyncStream<LinkEvent>.Continuation
    private let options: SerialOptions
    private let logger: Logger
    private let backoff: Backoff
    private var codec: any ControllerCodec
    private var framer: LineFramer
    private var channel: SerialChannel?
    private var started = false

    public init(options: SerialOptions, codec: any ControllerCodec, logger: Logger, backoff: Backoff = .standard) {
        self.options = options
        self.device = options.device
        self.codec = codec
        self.framer = LineFramer(maxLineBytes: codec.maxLineBytes)
        self.logger = logger
        self.backoff = backoff
        (events, continuation) = AsyncStream.makeStream(of: LinkEvent.self, bufferingPolicy: .unbounded)
    }

    /// A link speaking `kind`. `makeVendID` and `qibixx` are used by `qibixx-mdb` only (MDB
    /// has no ids; the adapter is configured from `qibixx`, by default from the currency).
    public init(
        options: SerialOptions, protocol kind: ControllerProtocolKind, currency: Currency,
        qibixx: QibixxSettings? = nil, probeInterval: Duration = .seconds(30),
        makeVendID: @escaping @Sendable () -> VendID?, logger: Logger, backoff: Backoff = .standard
    ) {
        let codec: any ControllerCodec
        switch kind {
        case .vmcLine: codec = VMCLineCodec(currency: currency)
        case .qibixxMDB:
            codec = VendNumbering(
                QibixxMDBCodec(currency: currency, settings: qibixx, tickInterval: probeInterval),
                makeVendID: makeVendID)
        }
        self.init(options: options, codec: codec, logger: logger, backoff: backoff)
    }

    /// True while the device is open.
    public var isUp: Bool { channel != nil }

    /// Encodes `command` and writes it. Returns once write(2) has taken every byte.
    ///
    /// Throws `.notConnected` when the link is down, `.writeFailed` when the write fails before
    /// any byte went out, and `.notSent` when a `dispense` has no line in this protocol right now;
    /// in each case the controller did not get the command. `.writeIncomplete`: some bytes went
    /// out, the controller may have it.
    public func send(_ command: ControllerCommand) async throws(LinkError) {
        guard let channel else { throw .notConnected(device: device) }
        let lines = codec.encode(command) + codec.takeOutgoing()
        guard !lines.isEmpty else {
            if case .dispense(let id, _) = command {
                throw .notSent(
                    device: device, command: "dispense \(id)", reason: "the machine is not waiting on that vend")
            }
            return
        }
        let terminator = codec.lineTerminator
        let bytes = Array(lines.map { $0 + terminator }.joined().utf8)
        do {
            try channel.write(bytes)
        } catch {
            logger.warning("controller link: \(error.description)")
            throw error
        }
        logger.debug("controller link: sent \(lines.joined(separator: " | "))")
    }

    /// Opens, reads and reopens the device until the task is cancelled. Call it once per link.
    public func run() async throws {
        precondition(!started, "ControllerLink.run() runs once per link")
        started = true
        defer {
            channel?.close()
            channel = nil
            continuation.finish()
        }
        var failures = 0
        var down = false  // an outage was reported and not yet ended
        var everOpened = false
        while !Task.isCancelled {
            let opened: SerialChannel
            do {
                opened = try SerialChannel.open(options)
            } catch {
                // Another daemon holds the device from the start: do not fight it for the line.
                if case .inUse = error, !everOpened {
                    logger.error("controller link: \(error.description)")
                    throw error
                }
                failures += 1
                if !down {
                    logger.error("controller link: \(error.description); retrying in the background")
                    continuation.yield(.down(reason: error.description))
                    down = true
                } else {
                    logger.debug("controller link: still down (attempt \(failures)): \(error.description)")
                }
                guard await pause(backoff.delay(afterFailures: failures)) else { return }
                continue
            }
            failures = 0
            everOpened = true
            channel = opened
            framer = LineFramer(maxLineBytes: codec.maxLineBytes)
            codec.linkDidOpen()
            logger.notice("controller link \(down ? "back up" : "up") on \(device)")
            down = false
            continuation.yield(.up(device: device))

            var reason = "the device closed"
            await withTaskGroup(of: Void.self) { group in
                if let interval = codec.tickInterval {
                    group.addTask { [weak self] in
                        while true {
                            do { try await Task.sleep(for: interval) } catch { return }
                            await self?.beat()
                        }
                    }
                }
                for await event in opened.reads {
                    switch event {
                    case .bytes(let bytes): receive(bytes)
                    case .closed(let why): reason = why
                    }
                }
                group.cancelAll()
            }
            opened.close()
            channel = nil
            if Task.isCancelled { return }
            let message = "controller link on \(device) lost: \(reason); reopening"
            logger.warning("\(message)")
            continuation.yield(.down(reason: message))
            down = true
            failures = 1
            guard await pause(backoff.delay(afterFailures: failures)) else { return }
        }
    }

    /// Sleeps; false when cancelled.
    private func pause(_ delay: Duration) async -> Bool {
        do {
            try await Task.sleep(for: delay)
            return true
        } catch {
            return false
        }
    }

    private func receive(_ bytes: [UInt8]) {
        for output in framer.feed(bytes) {
            switch output {
            case .line(let line):
                logger.trace("controller link: received \(line)")
                report(codec.decode(line))
                writeOutgoing()
            case .error(let error):
                continuation.yield(.controller(.malformed(line: "", reason: error.description)))
            }
        }
    }

    /// The codec's periodic beat (MDB liveness probe).
    private func beat() {
        guard channel != nil else { return }
        report(codec.tick())
        writeOutgoing()
    }

    private func report(_ events: [ControllerEvent]) {
        for event in events {
            switch event {
            case .malformed(let line, let reason):
                logger.notice("controller link on \(device): '\(protocolText(line, limit: 80))': \(reason)")
            case .unavailable(let reason):
                logger.notice("controller link on \(device): \(reason)")
            case .setUpRefused(let reason):
                logger.error("controller link on \(device): \(reason)")
            case .dispenseUnknown(let id, let reason):
                logger.warning("controller link on \(device): vend \(id): \(reason); outcome unknown")
            default:
                break
            }
            continuation.yield(.controller(event))
        }
    }

    /// Writes the lines the codec produced on its own (set-up steps, an immediate deny).
    private func writeOutgoing() {
        let lines = codec.takeOutgoing()
        guard !lines.isEmpty, let channel else { return }
        let bytes = Array(lines.map { $0 + codec.lineTerminator }.joined().utf8)
        do {
            try channel.write(bytes)
            logger.debug("controller link: sent \(lines.joined(separator: " | "))")
        } catch {
            logger.warning("controller link: \(error.description)")
        }
    }
}

/// Vend ids for protocols that have none (MDB): `<prefix>-<n>` counting up from `start`.
/// The daemon seeds `prefix`/`start` from the journal and the clock so ids never repeat.
public final class VendIDSequence: @unchecked Sendable {
    private let lock = ThreadLock()
    private let prefix: String
    private var next: Int

    /// - Parameter prefix: 1-12 of `[A-Za-z0-9_-]`.
    public init(prefix: String, start: Int = 1) {
        precondition(VendID(prefix) != nil && prefix.utf8.count <= 12, "vend id prefix must be 1-12 of A-Z a-z 0-9 _ -")
        self.prefix = prefix
        self.next = start
    }

    /// The next id.
    public func make() -> VendID {
        lock.lock()
        defer { lock.unlock() }
        let id = VendID("\(prefix)-\(next)")!
        next += 1
        return id
    }
}
