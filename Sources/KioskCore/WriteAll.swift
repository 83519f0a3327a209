#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// write(2) to a file descriptor until every byte is out.
public enum FileDescriptorWrite {
    /// Writes all of `bytes` to `fd`, retrying partial writes and EINTR. Returns nil when every
    /// byte was written, else the errno of the write that failed (ENOSPC when write(2) wrote
    /// nothing, so a descriptor that takes no bytes never spins).
    public static func all(_ bytes: UnsafeRawBufferPointer, to fd: Int32) -> Int32? {
        guard var next = bytes.baseAddress else { return nil }
        var left = bytes.count
        while left > 0 {
            let written = systemWrite(fd, next, left)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if written == 0 { return ENOSPC }
            next += written
            left -= written
        }
        return nil
    }

    private static func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, bytes, count)
        #else
        Darwin.write(fd, bytes, count)
        #endif
    }
}
