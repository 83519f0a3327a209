// With SerialChannelOpening.swift and SerialPortInfo.swift, the only files of ControllerLink that touch C:
// libserialport, termios, poll(2).
import CLinuxShims
import CSerialPort
import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One open serial line (a UART, a USB adapter, or a pseudo-terminal) as a byte stream.
///
/// How a device is opened (the rule, also in the README):
/// 1. The path's symlinks are resolved (`/dev/serial0`, a socat link, a simulator link).
/// 2. A resolved path under `/dev/pts/` is a pseudo-terminal: libserialport refuses those, so
///    it is opened with plain termios (raw mode, the same settings).
/// 3. Everything else opens through libserialport; when libserialport cannot handle a
///    path that still is a terminal, termios takes over.
///
/// Reading is event-driven: a dedicated thread blocks in poll(2) on the device and a wake
/// pipe, and hands every read to `reads`. `close()` wakes that thread through the pipe; the
/// thread is the single owner that finally closes the descriptors.
public final class SerialChannel: @unchecked Sendable {
    /// What the reader thread saw.
    public enum ReadEvent: Sendable {
        case bytes([UInt8])
        /// The line is gone (EOF, EIO after an unplug, POLLHUP). No more events follow.
        case closed(reason: String)
    }

    /// The path this channel was opened from (as configured, before resolving symlinks).
    public let device: String
    /// Every read, in order; finishes after `.closed` or after `close()`.
    public let reads: AsyncStream<ReadEvent>

    private let fd: Int32
    private let port: OpaquePointer?  // libserialport's handle, when it opened the device
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let lock = ThreadLock()
    private var isClosed = false  // guarded by lock

    init(device: String, fd: Int32, port: OpaquePointer?) throws(LinkError) {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            let reason = Self.errnoText()
            if let port { sp_close(port); sp_free_port(port) } else { Glibc.close(fd) }
            throw .openFailed(device: device, reason: "cannot create a wake pipe: \(reason)")
        }
        self.device = device
        self.fd = fd
        self.port = port
        for end in pipeFDs {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        self.wakeRead = pipeFDs[0]
        self.wakeWrite = pipeFDs[1]
        let (stream, continuation) = AsyncStream.makeStream(of: ReadEvent.self, bufferingPolicy: .unbounded)
        self.reads = stream
        continuation.onTermination = { [weak self] _ in self?.close() }
        startThread(name: "serial-read \(device)") { [self] in self.readLoop(continuation) }
    }

    deinit {
        // The reader thread holds `self` until it has released everything, so by now the
        // descriptors are closed.
    }
    // MARK: writing

    /// Writes all bytes; returns once write(2) has taken them (no tcdrain: ptys have no wire).
    /// Waits for room with poll(2), at most `timeout` in total.
    public func write(_ bytes: [UInt8], timeout: Duration = .seconds(2)) throws(LinkError) {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { throw .notConnected(device: device) }
        let deadline = ContinuousClock.now + timeout
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            }
            if written > 0 {
                offset += written
                continue
            }
            let code = errno
            if written < 0 && code == EINTR { continue }
            if written < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else {
                    throw Self.failure(
                        device: device, written: offset, total: bytes.count,
                        reason: "the device took no data for \(timeout)")
                }
                let milliseconds = Int32(
                    clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, milliseconds)
                continue
            }
            throw Self.failure(device: device, written: offset, total: bytes.count, reason: Self.errnoText(code))
        }
    }

    /// A write that stopped: `writeIncomplete` once any byte went out (the controller may have
    /// the line), else `writeFailed` (it certainly has nothing).
    static func failure(device: String, written: Int, total: Int, reason: String) -> LinkError {
        written > 0
            ? .writeIncomplete(device: device, written: written, total: total, reason: reason)
            : .writeFailed(device: device, reason: reason)
    }

    // MARK: closing and reading

    /// Stops reading and releases the device. Safe to call more than once, from anywhere.
    public func close() {
        lock.lock()
        let first = !isClosed
        isClosed = true
        lock.unlock()
        if first {
            var byte: UInt8 = 1
            _ = Glibc.write(wakeWrite, &byte, 1)
        }
    }

    private func readLoop(_ continuation: AsyncStream<ReadEvent>.Continuation) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var ending: ReadEvent?
        loop: while true {
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                ending = .closed(reason: "poll failed: \(Self.errnoText())")
                break
            }
            if fds[1].revents != 0 { break }  // close() asked us to stop
            let events = Int32(fds[0].revents)
            if events & Int32(POLLNVAL) != 0 {
                ending = .closed(reason: "the descriptor is no longer valid")
                break
            }
            guard events & Int32(POLLIN | POLLHUP | POLLERR) != 0 else { continue }
            // Drain everything that is there, so one POLLIN never strands data.
            while true {
                let count = buffer.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress!, raw.count) }
                if count > 0 {
                    continuation.yield(.bytes(Array(buffer[0..<count])))
                    continue
                }
                if count == 0 {
                    ending = .closed(reason: "end of file (the other side closed)")
                    break loop
                }
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    if events & Int32(POLLHUP | POLLERR) != 0 {
                        ending = .closed(reason: "hang-up (device unplugged or other side closed)")
                        break loop
                    }
                    break
                }
                ending = .closed(
                    reason: code == EIO
                        ? "input/output error (device unplugged or other side closed)" : Self.errnoText(code))
                break loop
            }
        }
        lock.lock()
        isClosed = true
        // Clear TIOCEXCL first: a pty slave's tty outlives our close while its master is open,
        // and the flag would refuse the next (non-root) open of the device by our own restart.
        _ = ioctl(fd, UInt(TIOCNXCL))
        if let port {
            sp_close(port)
            sp_free_port(port)
        } else {
            _ = Glibc.close(fd)
        }
        _ = Glibc.close(wakeRead)
        _ = Glibc.close(wakeWrite)
        lock.unlock()
        if let ending { continuation.yield(ending) }
        continuation.finish()
    }
}
