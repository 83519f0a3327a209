#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// One daemon per journal: an exclusive `flock` on `<journal>.lock`, held as long as this value
/// lives (the daemon keeps it for its whole run; the kernel drops it when the process dies, so a
/// crash never leaves a stale lock). The file holds the holder's pid and command line, so a second
/// `run` can name the one already running. Readers (`journal`, `check-config`) never take it.
public final class JournalLock: Sendable {
    public let path: String
    private let fd: Int32

    /// Someone else holds the lock: who, as the lock file and `/proc` tell.
    public struct Held: Error, CustomStringConvertible {
        public let journal: String
        public let lockFile: String
        public let holder: String

        public var description: String {
            "the journal \(journal) is in use by another drippay-kiosk (\(holder)); only one daemon may run on a "
                + "journal. Stop it first (`systemctl stop drippay-kiosk`, or end that `run`); `drippay-kiosk journal` "
                + "and `check-config` work beside it"
        }
    }

    /// The lock file could not be opened or locked for another reason.
    public struct Failed: Error, CustomStringConvertible {
        public let lockFile: String
        public let errno: Int32

        public var description: String {
            "cannot lock \(lockFile): \(String(cString: strerror(errno))) (errno \(errno)); check that the journal's "
                + "directory is writable by the daemon"
        }
    }

    /// Takes the lock for `journalPath` at once, or throws `Held` naming the holder.
    public init(journalPath: String) throws {
        let path = journalPath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failed(lockFile: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let failure = errno
            let holder = Self.describeHolder(fd: fd)
            close(fd)
            if failure == EWOULDBLOCK { throw Held(journal: journalPath, lockFile: path, holder: holder) }
            throw Failed(lockFile: path, errno: failure)
        }
        // Ours now: record who holds it.
        let pid = getpid()
        let command = Self.commandLine(pid: pid) ?? "drippay-kiosk"
        // The journal's own formatter: Foundation's `.iso8601` style would run its Gregorian
        // calendar and _StringProcessing code at every start for this one string.
        let started = Date().journalISO8601
        let text = "pid \(pid) since \(started): \(command)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.path = path
        self.fd = fd
    }

    deinit {
        _ = ftruncate(fd, 0)
        close(fd)  // releases the flock
    }

    private static func describeHolder(fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = pread(fd, &buffer, buffer.count, 0)
        let text = count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self).trimmingWhitespaceAndNewlines() : ""
        return text.isEmpty ? "a process that has not written its pid yet" : text
    }

    static func commandLine(pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }
}
