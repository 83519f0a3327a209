import Foundation

/// Finds a product built beside the running tests or benchmark (`swift test` builds every
/// product first, into the directory that also holds the test bundle).
public enum BuiltExecutable {
    /// Where `name` is looked for, in order: the running executable's and the loaded bundles'
    /// directories, `argv[0]`'s directory, then `<repositoryRoot>/.build/debug` when given.
    public static func candidates(_ name: String, repositoryRoot: String? = nil) -> [String] {
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
            directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        directories += Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        if let repositoryRoot {
            directories.append(URL(fileURLWithPath: repositoryRoot).appendingPathComponent(".build/debug"))
        }
        var seen = Set<String>()
        return directories.map { $0.appendingPathComponent(name).path }.filter { seen.insert($0).inserted }
    }

    /// The built `drippay-kiosk`: `$DRIPPAY_KIOSK_BINARY` when set, else the first executable
    /// candidate; nil when there is none.
    public static func kiosk(repositoryRoot: String? = nil) -> String? {
        if let explicit = ProcessInfo.processInfo.environment["DRIPPAY_KIOSK_BINARY"], !explicit.isEmpty {
            return explicit
        }
        return candidates("drippay-kiosk", repositoryRoot: repositoryRoot)
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
