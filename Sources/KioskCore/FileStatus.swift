#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What stat(2) says about a path, following symbolic links as `FileManager.fileExists(atPath:
/// isDirectory:)` and `URL.resourceValues(forKeys: [.fileSizeKey])` do (FoundationEssentials has
/// neither `ObjCBool` nor URL resource values).
public enum FileStatus {
    /// True when `path` exists and is a directory (or a link to one).
    public static func isDirectory(_ path: String) -> Bool {
        guard let status = status(path) else { return false }
        return status.st_mode & mode_t(S_IFMT) == mode_t(S_IFDIR)
    }

    /// The size in bytes, or nil when `path` does not exist or cannot be read.
    public static func size(_ path: String) -> Int64? {
        status(path).map { Int64($0.st_size) }
    }

    /// True when `path` exists (a link counts when what it names exists).
    public static func exists(_ path: String) -> Bool { status(path) != nil }

    /// The permission bits (`st_mode & 0o7777`) of `path` itself, a link not followed (lstat(2),
    /// as `FileManager.attributesOfItem(atPath:)[.posixPermissions]`); nil when it cannot be read.
    public static func permissionsOfItem(_ path: String) -> Int? {
        var result = stat()
        guard lstat(path, &result) == 0 else { return nil }
        return Int(result.st_mode) & 0o7777
    }

    /// Why a file operation (`Data.write(to:)`, `FileManager`) failed, for a person: the
    /// system's text for the underlying errno (`No such file or directory`), else the error.
    /// FoundationEssentials' `CocoaError` has no `localizedDescription`, and its description is
    /// a dump of its user info.
    public static func reason(of error: any Error) -> String {
        if let cocoa = error as? CocoaError, let posix = cocoa.underlying as? POSIXError {
            return String(cString: strerror(posix.code.rawValue))
        }
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        return "\(error)"
    }

    private static func status(_ path: String) -> stat? {
        var result = stat()
        return stat(path, &result) == 0 ? result : nil
    }
}
