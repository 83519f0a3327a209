import KioskCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why the API token could not be loaded. Messages name the file, never its contents.
public enum TokenError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The token file does not exist.
    case missing(file: String)
    /// The file exists but cannot be read (permissions, a directory, an I/O error).
    case unreadable(file: String, reason: String)
    /// The file is readable by its group or by everyone; `mode` is the permission bits.
    case tooOpen(file: String, mode: Int)
    /// The file holds something other than `{id}|{secret}`.
    case malformed(file: String, problem: String)

    /// The file the error is about.
    public var file: String {
        switch self {
        case .missing(let f), .unreadable(let f, _), .tooOpen(let f, _), .malformed(let f, _): return f
        }
    }

    /// The message without the file name (the config checker puts the file:line in front).
    public var reason: String {
        switch self {
        case .missing:
            return "does not exist; put the API token (\"{id}|{secret}\") in it and run `chmod 600 \(file)`"
        case .unreadable(_, let reason):
            return "cannot be read (\(reason)); the daemon's user must own it, mode 600"
        case .tooOpen(_, let mode):
            return
                "is readable by \(mode & 0o044 == 0o044 ? "group and others" : mode & 0o040 != 0 ? "its group" : "others") (mode \(octalMode(mode))); run `chmod 600 \(file)`"
        case .malformed(_, let problem):
            return
                "does not hold a token of the form \"{id}|{secret}\" (\(problem)); copy the token exactly as DripPay showed it"
        }
    }

    public var description: String { "token file \(file) \(reason)" }
}

/// Reads the DripPay API token.
///
/// Under systemd the unit passes the token with `LoadCredential=drippay-token:...`, and
/// `$CREDENTIALS_DIRECTORY/drippay-token` wins over the configured file (systemd already keeps
/// that file private, so its mode is not checked). Otherwise the configured file must not be
/// readable by group or others.
public enum TokenLoader {
    /// The name of the systemd credential.
    public static let credentialName = "drippay-token"

    /// The systemd credential file when `$CREDENTIALS_DIRECTORY` is set and holds one.
    public static func credentialFile(environment: [String: String]) -> String? {
        guard let dir = environment["CREDENTIALS_DIRECTORY"], !dir.isEmpty else { return nil }
        let path = (dir.hasSuffix("/") ? dir : dir + "/") + credentialName
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    public static func load(tokenFile: String, environment: [String: String]) throws(TokenError) -> APIToken {
        if let credential = credentialFile(environment: environment) {
            return try read(credential, checkMode: false)
        }
        return try read(tokenFile, checkMode: true)
    }

    /// Reads and checks one file.
    public static func read(_ file: String, checkMode: Bool) throws(TokenError) -> APIToken {
        let manager = FileManager.default
        guard FileStatus.exists(file) else { throw .missing(file: file) }
        if FileStatus.isDirectory(file) { throw .unreadable(file: file, reason: "it is a directory") }
        if checkMode {
            guard let permissions = FileStatus.permissionsOfItem(file) else {
                throw .unreadable(file: file, reason: "cannot read its permissions")
            }
            if permissions & 0o044 != 0 {
                throw .tooOpen(file: file, mode: permissions & 0o7777)
            }
        }
        guard let data = manager.contents(atPath: file) else {
            throw .unreadable(file: file, reason: "permission denied")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .malformed(file: file, problem: "not UTF-8 text")
        }
        let value = text.trimmingWhitespaceAndNewlines()
        if value.isEmpty { throw .malformed(file: file, problem: "the file is empty") }
        let pieces = value.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
        guard pieces.count == 2 else { throw .malformed(file: file, problem: "no '|' between id and secret") }
        guard !pieces[0].isEmpty else { throw .malformed(file: file, problem: "the id before '|' is empty") }
        guard !pieces[1].isEmpty else { throw .malformed(file: file, problem: "the secret after '|' is empty") }
        if value.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
            throw .malformed(file: file, problem: "it contains spaces or control characters, or more than one line")
        }
        return APIToken(value)
    }
}

/// `0644` style permission bits.
func octalMode(_ mode: Int) -> String {
    let digits = String(mode, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
