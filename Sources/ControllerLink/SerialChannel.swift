// The only file of ControllerLink that touches C: libserialport, termios, poll(2).
import CLinuxShims
import CSerialPort
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import KioskCore

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

    private init(device: String, fd: Int32, port: OpaquePointer?) throws(LinkError) {
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

    // MARK: opening

    /// Opens and configures `options.device` (see the type's rule for which API opens it).
    public static func open(_ options: SerialOptions) throws(LinkError) -> SerialChannel {
        let device = options.device
        var info = stat()
        if stat(device, &info) != 0 {
            let code = errno
            if code == EACCES { throw .permissionDenied(device: device) }
            throw .deviceMissing(device: device)
        }
        guard (info.st_mode & S_IFMT) == S_IFCHR else { throw .notATerminal(device: device) }
        let resolved = resolvedPath(device)
        if resolved.hasPrefix("/dev/pts/") {
            return try openWithTermios(options, path: resolved)
        }
        if let channel = try openWithLibserialport(options, path: resolved) { return channel }
        return try openWithTermios(options, path: resolved)
    }

    /// Takes over an already open terminal descriptor (the simulator's pty master).
    public static func adopting(descriptor: Int32, name: String) throws(LinkError) -> SerialChannel {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        return try SerialChannel(device: name, fd: descriptor, port: nil)
    }

    private static func resolvedPath(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// nil when libserialport does not handle this path (termios takes over).
    private static func openWithLibserialport(_ options: SerialOptions, path: String) throws(LinkError) -> SerialChannel? {
        let device = options.device
        var portPointer: OpaquePointer?
        guard sp_get_port_by_name(path, &portPointer) == SP_OK, let port = portPointer else { return nil }
        guard sp_open(port, SP_MODE_READ_WRITE) == SP_OK else {
            let code = sp_last_error_code()
            sp_free_port(port)
            switch code {
            case EACCES: throw .permissionDenied(device: device)
            case EPERM: throw .deviceNotAllowed(device: device)
            case ENOENT, ENODEV, ENXIO: throw .deviceMissing(device: device)
            case EBUSY: throw .openFailed(device: device, reason: "the device is busy (another program has it open)")
            default: return nil
            }
        }
        func fail(_ what: String) -> LinkError {
            let message = sp_last_error_message().map { text -> String in
                defer { sp_free_error_message(text) }
                return String(cString: text)
            } ?? "unknown error"
            sp_close(port)
            sp_free_port(port)
            return .configureFailed(device: device, reason: "\(what): \(message)")
        }
        guard sp_set_baudrate(port, Int32(options.baud)) == SP_OK else { throw fail("baud \(options.baud)") }
        guard sp_set_bits(port, Int32(options.dataBits)) == SP_OK else { throw fail("data bits \(options.dataBits)") }
        let parity: sp_parity
        switch options.parity {
        case .none: parity = SP_PARITY_NONE
        case .odd: parity = SP_PARITY_ODD
        case .even: parity = SP_PARITY_EVEN
        case .mark: parity = SP_PARITY_MARK
        case .space: parity = SP_PARITY_SPACE
        }
        guard sp_set_parity(port, parity) == SP_OK else { throw fail("parity \(options.parity.rawValue)") }
        guard sp_set_stopbits(port, Int32(options.stopBits)) == SP_OK else { throw fail("stop bits \(options.stopBits)") }
        let flow: sp_flowcontrol
        switch options.flowControl {
        case .none: flow = SP_FLOWCONTROL_NONE
        case .xonxoff: flow = SP_FLOWCONTROL_XONXOFF
        case .rtscts: flow = SP_FLOWCONTROL_RTSCTS
        case .dtrdsr: flow = SP_FLOWCONTROL_DTRDSR
        }
        guard sp_set_flowcontrol(port, flow) == SP_OK else { throw fail("flow control \(options.flowControl.rawValue)") }
        var handle: Int32 = -1
        guard sp_get_port_handle(port, &handle) == SP_OK, handle >= 0 else { throw fail("no file descriptor") }
        // libserialport leaves VMIN = 0, VTIME = 0, under which read(2) returns 0 whenever nothing is
        // waiting: the reader would take the first pause after a line for end of file and drop the
        // link (seen on a real 16550 and an FTDI adapter). With VMIN = 1 an empty non-blocking read
        // is EAGAIN, and 0 means a hang-up again.
        var tio = termios()
        guard tcgetattr(handle, &tio) == 0 else { throw fail("tcgetattr: \(errnoText())") }
        withUnsafeMutableBytes(of: &tio.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(handle, TCSANOW, &tio) == 0 else { throw fail("tcsetattr: \(errnoText())") }
        do throws(LinkError) {
            try claimExclusively(fd: handle, device: device, path: path)
        } catch {
            sp_close(port)
            sp_free_port(port)
            throw error
        }
        let flags = fcntl(handle, F_GETFL)
        _ = fcntl(handle, F_SETFL, flags | O_NONBLOCK)
        return try SerialChannel(device: device, fd: handle, port: port)
    }

    private static func openWithTermios(_ options: SerialOptions, path: String) throws(LinkError) -> SerialChannel {
        let device = options.device
        let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case EACCES: throw .permissionDenied(device: device)
            case EPERM: throw .deviceNotAllowed(device: device)
            case ENOENT, ENODEV, ENXIO, EIO: throw .deviceMissing(device: device)
            default: throw .openFailed(device: device, reason: errnoText(code))
            }
        }
        do throws(LinkError) {
            try claimExclusively(fd: fd, device: device, path: path)
            try configureTermios(fd: fd, options: options)
        } catch {
            Glibc.close(fd)
            throw error
        }
        return try SerialChannel(device: device, fd: fd, port: nil)
    }

    /// One program per serial device: an exclusive `flock` on the open device (which no
    /// privilege bypasses; the kernel drops it with the descriptor), then `TIOCEXCL` so that
    /// programs that do not lock (a terminal program) cannot open it either, except as root.
    /// A second daemon on the same device gets `.inUse` naming the process that holds it.
    static func claimExclusively(fd: Int32, device: String, path: String) throws(LinkError) {
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            if code == EWOULDBLOCK { throw .inUse(device: device, holder: holders(of: path)) }
            throw .openFailed(device: device, reason: "flock: \(errnoText(code))")
        }
        _ = ioctl(fd, UInt(TIOCEXCL))
    }

    /// The processes that have `path` open (from /proc/*/fd), e.g. "pid 812 (drippay-kiosk run --config ...)".
    static func holders(of path: String) -> String {
        let me = getpid()
        var found: [String] = []
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
        for pid in pids where pid != me {
            let fdDirectory = "/proc/\(pid)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else { continue }
            let holds = fds.contains { fd in
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)")) == path
            }
            guard holds else { continue }
            let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { data in
                data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            } ?? "?"
            found.append("pid \(pid) (\(command))")
        }
        return found.isEmpty ? "another process" : found.joined(separator: ", ")
    }

    /// Raw mode with the configured line settings.
    static func configureTermios(fd: Int32, options: SerialOptions) throws(LinkError) {
        let device = options.device
        var tio = termios()
        guard tcgetattr(fd, &tio) == 0 else { throw .notATerminal(device: device) }
        cfmakeraw(&tio)
        guard let speed = baudConstant(options.baud) else {
            throw .unsupportedSetting(device: device, reason: "baud \(options.baud) is not a standard rate")
        }
        cfsetispeed(&tio, speed)
        cfsetospeed(&tio, speed)
        tio.c_cflag &= ~tcflag_t(CSIZE)
        switch options.dataBits {
        case 5: tio.c_cflag |= tcflag_t(CS5)
        case 6: tio.c_cflag |= tcflag_t(CS6)
        case 7: tio.c_cflag |= tcflag_t(CS7)
        case 8: tio.c_cflag |= tcflag_t(CS8)
        default: throw .unsupportedSetting(device: device, reason: "data bits must be 5 to 8, not \(options.dataBits)")
        }
        tio.c_cflag &= ~tcflag_t(PARENB | PARODD | CMSPAR)
        switch options.parity {
        case .none: break
        case .even: tio.c_cflag |= tcflag_t(PARENB)
        case .odd: tio.c_cflag |= tcflag_t(PARENB | PARODD)
        case .mark: tio.c_cflag |= tcflag_t(PARENB | PARODD | CMSPAR)
        case .space: tio.c_cflag |= tcflag_t(PARENB | CMSPAR)
        }
        switch options.stopBits {
        case 1: tio.c_cflag &= ~tcflag_t(CSTOPB)
        case 2: tio.c_cflag |= tcflag_t(CSTOPB)
        default: throw .unsupportedSetting(device: device, reason: "stop bits must be 1 or 2, not \(options.stopBits)")
        }
        tio.c_cflag &= ~tcflag_t(CRTSCTS)
        tio.c_iflag &= ~tcflag_t(IXON | IXOFF | IXANY)
        switch options.flowControl {
        case .none: break
        case .rtscts: tio.c_cflag |= tcflag_t(CRTSCTS)
        case .xonxoff: tio.c_iflag |= tcflag_t(IXON | IXOFF)
        case .dtrdsr:
            throw .unsupportedSetting(device: device, reason: "DTR/DSR flow control needs libserialport (not a pty)")
        }
        tio.c_cflag |= tcflag_t(CLOCAL | CREAD)
        withUnsafeMutableBytes(of: &tio.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSANOW, &tio) == 0 else {
            throw .configureFailed(device: device, reason: "tcsetattr: \(errnoText())")
        }
    }

    private static func baudConstant(_ baud: Int) -> speed_t? {
        let table: [Int: Int32] = [
            1200: B1200, 2400: B2400, 4800: B4800, 9600: B9600, 19200: B19200, 38400: B38400,
            57600: B57600, 115_200: B115200, 230_400: B230400, 460_800: B460800, 921_600: B921600,
        ]
        return table[baud].map { speed_t($0) }
    }

    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    // MARK: pseudo-terminals (simulators, tests)

    /// A new pseudo-terminal pair in raw mode: (master, slave, slave path).
    public static func openPseudoTerminal() throws(LinkError) -> (master: Int32, slave: Int32, path: String) {
        var master: Int32 = -1
        var slave: Int32 = -1
        var name = [CChar](repeating: 0, count: 128)
        var tio = termios()
        cfmakeraw(&tio)
        cfsetispeed(&tio, speed_t(B115200))
        cfsetospeed(&tio, speed_t(B115200))
        tio.c_cflag |= tcflag_t(CLOCAL | CREAD)
        guard openpty(&master, &slave, &name, &tio, nil) == 0 else {
            throw .openFailed(device: "/dev/ptmx", reason: "openpty: \(errnoText())")
        }
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        let path = name.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return (master, slave, path)
    }

    /// Closes a descriptor this module handed out (the simulator's spare slave side).
    public static func closeDescriptor(_ fd: Int32) {
        _ = Glibc.close(fd)
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
                    throw .writeFailed(device: device, reason: "the device took no data for \(timeout)")
                }
                let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, milliseconds)
                continue
            }
            throw .writeFailed(device: device, reason: Self.errnoText(code))
        }
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

/// Serial ports the system knows, for `drippay-kiosk ports`.
public struct SerialPortInfo: Hashable, Sendable {
    /// How the port is attached.
    public enum Transport: String, Hashable, Sendable { case native, usb, bluetooth, unknown }

    public var device: String
    public var description: String?
    public var transport: Transport
    public var usbVendorID: Int?
    public var usbProductID: Int?
    public var manufacturer: String?
    public var product: String?
    public var serialNumber: String?

    public init(
        device: String, description: String? = nil, transport: Transport = .unknown, usbVendorID: Int? = nil,
        usbProductID: Int? = nil, manufacturer: String? = nil, product: String? = nil, serialNumber: String? = nil
    ) {
        self.device = device
        self.description = description
        self.transport = transport
        self.usbVendorID = usbVendorID
        self.usbProductID = usbProductID
        self.manufacturer = manufacturer
        self.product = product
        self.serialNumber = serialNumber
    }

    /// `0403:6001`, or nil when the port is not on USB.
    public var usbID: String? {
        guard let vid = usbVendorID, let pid = usbProductID else { return nil }
        let hex = { (value: Int) in
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        }
        return "\(hex(vid)):\(hex(pid))"
    }

    /// Every port libserialport finds, sorted by device path.
    public static func list() throws(LinkError) -> [SerialPortInfo] {
        var listPointer: UnsafeMutablePointer<OpaquePointer?>?
        guard sp_list_ports(&listPointer) == SP_OK, let list = listPointer else {
            let message = sp_last_error_message().map { text -> String in
                defer { sp_free_error_message(text) }
                return String(cString: text)
            } ?? "unknown error"
            throw .openFailed(device: "serial port list", reason: message)
        }
        defer { sp_free_port_list(list) }
        var ports: [SerialPortInfo] = []
        var index = 0
        while let port = list[index] {
            index += 1
            let text = { (pointer: UnsafeMutablePointer<CChar>?) -> String? in
                guard let pointer else { return nil }
                let value = String(cString: pointer)
                return value.isEmpty ? nil : value
            }
            guard let name = text(sp_get_port_name(port)) else { continue }
            var info = SerialPortInfo(device: name, description: text(sp_get_port_description(port)))
            switch sp_get_port_transport(port) {
            case SP_TRANSPORT_NATIVE: info.transport = .native
            case SP_TRANSPORT_USB: info.transport = .usb
            case SP_TRANSPORT_BLUETOOTH: info.transport = .bluetooth
            default: info.transport = .unknown
            }
            if info.transport == .usb {
                var vid: Int32 = 0
                var pid: Int32 = 0
                if sp_get_port_usb_vid_pid(port, &vid, &pid) == SP_OK {
                    info.usbVendorID = Int(vid)
                    info.usbProductID = Int(pid)
                }
                info.manufacturer = text(sp_get_port_usb_manufacturer(port))
                info.product = text(sp_get_port_usb_product(port))
                info.serialNumber = text(sp_get_port_usb_serial(port))
            }
            ports.append(info)
        }
        return ports.sorted { $0.device < $1.device }
    }
}
