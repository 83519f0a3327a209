// The only file of ControllerLink that touches C: libserialport, termios, poll(2).
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

/// Opening a device: libserialport or termios (pseudo-terminals), the exclusive claim, line settings.
extension SerialChannel {
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

    static func resolvedPath(_ path: String) -> String {
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        return String(cString: real)
    }

    /// nil when libserialport does not handle this path (termios takes over).
    static func openWithLibserialport(_ options: SerialOptions, path: String) throws(LinkError) -> SerialChannel? {
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
            let message =
                sp_last_error_message().map { text -> String in
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
        guard sp_set_stopbits(port, Int32(options.stopBits)) == SP_OK else {
            throw fail("stop bits \(options.stopBits)")
        }
        let flow: sp_flowcontrol
        switch options.flowControl {
        case .none: flow = SP_FLOWCONTROL_NONE
        case .xonxoff: flow = SP_FLOWCONTROL_XONXOFF
        case .rtscts: flow = SP_FLOWCONTROL_RTSCTS
        case .dtrdsr: flow = SP_FLOWCONTROL_DTRDSR
        }
        guard sp_set_flowcontrol(port, flow) == SP_OK else {
            throw fail("flow control \(options.flowControl.rawValue)")
        }
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

    static func openWithTermios(_ options: SerialOptions, path: String) throws(LinkError) -> SerialChannel {
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
            let command =
                FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { data in
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

    static func baudConstant(_ baud: Int) -> speed_t? {
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
}
