import CCurl
import KioskCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The one thread that drives every libcurl transfer of the process through the multi interface.
///
/// Callers hand it a prepared `CurlTransfer` (`submit`) and wait on the transfer's continuation;
/// the thread adds the easy handle to the multi handle, runs `curl_multi_perform`, and sleeps in
/// `curl_multi_poll` until a socket is ready, libcurl's own next timeout (a transfer's deadline,
/// a connect attempt) is due, or `curl_multi_wakeup` announces new work or a cancellation. No
/// thread per request, no polling loop, no timer of ours: libcurl's timeouts bound each exchange.
/// Connections stay open in the multi handle's pool between requests (keep-alive). Process-wide
/// and never stopped, like `HTTPClient.shared` was.
final class CurlEngine: Sendable {
    static let shared = CurlEngine()

    /// `CURLM *`: touched by the engine thread only, but for `curl_multi_wakeup` (thread-safe).
    private struct MultiHandle: @unchecked Sendable {
        let raw: UnsafeMutableRawPointer
    }

    private enum Command {
        case add(CurlTransfer)
        case cancel(CurlTransfer)
    }

    private let multi: MultiHandle
    private let inbox = Mutex<[Command]>([])
    private let started = Atomic<Bool>(false)
    /// The longest sleep with nothing to do (a wake-up a minute at most when idle).
    private static let idleWaitMilliseconds: Int32 = 60_000

    private init() {
        // Once per process, before any other libcurl call (thread-safe in Debian's libcurl, which
        // reports CURL_VERSION_THREADSAFE; called here only once anyway).
        let global = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        precondition(global == CURLE_OK, "curl_global_init failed: \(global.rawValue)")
        // CURLOPT_NOSIGNAL (every handle sets it) leaves SIGPIPE to the application: a write to a
        // connection the server closed must be an error (EPIPE), not the end of the daemon.
        signal(SIGPIPE, SIG_IGN)
        guard let raw = curl_multi_init() else { fatalError("curl_multi_init failed (out of memory)") }
        multi = MultiHandle(raw: raw)
    }

    /// Starts `transfer`; its continuation is resumed once, from the engine thread.
    func submit(_ transfer: CurlTransfer) {
        startIfNeeded()
        inbox.withLock { $0.append(.add(transfer)) }
        curl_multi_wakeup(multi.raw)
    }

    /// Stops `transfer` (its task was cancelled): the easy handle leaves the multi handle and the
    /// caller gets `CancellationError`. Harmless when it already finished or never started.
    func cancel(_ transfer: CurlTransfer) {
        inbox.withLock { $0.append(.cancel(transfer)) }
        curl_multi_wakeup(multi.raw)
    }

    private func startIfNeeded() {
        guard !started.load(ordering: .acquiring) else { return }
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        startThread(name: "drippay-curl") { [self] in run() }
    }

    /// The engine thread's loop; never returns.
    private func run() {
        let multi = self.multi.raw
        // The transfers in the multi handle, by their easy handle.
        var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
        while true {
            for command in inbox.withLock({ commands in
                defer { commands.removeAll(keepingCapacity: true) }
                return commands
            }) {
                switch command {
                case .add(let transfer):
                    if transfer.isCancelled {
                        transfer.finish(.failure(CancellationError()))
                    } else if curl_multi_add_handle(multi, transfer.easy.raw) == CURLM_OK {
                        active[transfer.easy.raw] = transfer
                    } else {
                        transfer.finish(
                            .failure(TransportFailure.other(code: -1, detail: "curl_multi_add_handle failed")))
                    }
                case .cancel(let transfer):
                    // A transfer that is not active yet is refused when its `add` is read.
                    guard active.removeValue(forKey: transfer.easy.raw) != nil else { continue }
                    curl_multi_remove_handle(multi, transfer.easy.raw)
                    transfer.finish(.failure(CancellationError()))
                }
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = ccurl_message_result(message)
                curl_multi_remove_handle(multi, easy)
                guard let transfer = active.removeValue(forKey: easy) else { continue }
                transfer.complete(code)
            }
            // Sleeps until a socket is ready, libcurl's next timeout, or a wake-up.
            curl_multi_poll(multi, nil, 0, Self.idleWaitMilliseconds, nil)
        }
    }
}
