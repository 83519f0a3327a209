#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A message for systemd's service manager (`sd_notify(3)`), as `KEY=VALUE` lines.
public enum ServiceNotification: Hashable, Sendable {
    /// Start-up finished: serial, journal and API check are up.
    case ready
    /// A one-line status a technician reads in `systemctl status`.
    case status(String)
    /// The main loop is healthy (only sent when it is).
    case watchdog
    /// Shutdown began.
    case stopping
    /// The watchdog found the daemon unhealthy: ask systemd to act now.
    case watchdogTrigger

    /// The datagram payload for this notification.
    public var payload: String {
        switch self {
        case .ready: return "READY=1"
        case .status(let text):
            // One line: systemd shows STATUS= verbatim; a newline would end the assignment.
            return "STATUS=" + text.replacingAll("\n", with: " ")
        case .watchdog: return "WATCHDOG=1"
        case .stopping: return "STOPPING=1"
        case .watchdogTrigger: return "WATCHDOG=trigger"
        }
    }
}

/// Sends notifications to `$NOTIFY_SOCKET` (a Unix datagram socket; a leading `@` means the
/// abstract namespace). Does nothing when the daemon is not run by systemd with `Type=notify`.
public struct SystemdNotifier: Sendable {
    /// The socket path from the environment, or nil when there is none.
    public let socketPath: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"]
        self.socketPath = (path?.isEmpty ?? true) ? nil : path
    }

    /// The watchdog interval systemd expects pings within (`WATCHDOG_USEC`), if it set one for us.
    public static func watchdogInterval(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], let value = Int32(pid), value != getpid() { return nil }
        return .microseconds(usec)
    }

    /// Sends the notifications in one datagram. Failures are reported, never fatal: a daemon
    /// must not die because its supervisor's socket went away.
    @discardableResult
    public func notify(_ notifications: ServiceNotification...) -> Bool {
        guard let socketPath, !notifications.isEmpty else { return false }
        let message = notifications.map(\.payload).joined(separator: "\n")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                    sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL), sockaddrPointer, length)
                }
            }
        }
        return sent >= 0
    }
}
