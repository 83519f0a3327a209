/// Why the integration rig could not do what a test asked.
enum RigError: Error, CustomStringConvertible {
    case setup(String)
    case timedOut(String, after: Duration)
    /// A test failed while the daemon ran: the daemon's last stderr lines help to see why.
    case failedWithDaemonLog(underlying: any Error, stderrPath: String, stderrTail: String)

    var description: String {
        switch self {
        case .setup(let message): return "rig setup: \(message)"
        case .timedOut(let what, let after): return "waited \(after) for \(what)"
        case .failedWithDaemonLog(let underlying, let path, let tail):
            return "\(underlying)\n--- last lines of the daemon's stderr (\(path)) ---\n\(tail)"
        }
    }
}
