import CCurl
import KioskCore
import Synchronization

/// One libcurl easy handle with its error buffer, set up once (callbacks, TLS, proxy, no
/// redirects) and reused request after request by one route of one `CurlTransport`.
final class CurlEasyHandle: @unchecked Sendable {
    // Used by one request at a time: the pool hands it out and takes it back.
    let raw: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>
    /// The header list set last and the lines it was built from (most routes send the same
    /// headers every time: the list is built once).
    var headerList: UnsafeMutablePointer<curl_slist>?
    var headerLines: [String] = []

    init?() {
        guard let raw = curl_easy_init() else { return nil }
        self.raw = raw
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(raw)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// The error buffer's text (libcurl's detail for the last failure), or nil when empty.
    var errorText: String? {
        errorBuffer.pointee == 0 ? nil : String(cString: errorBuffer)
    }

    func set(_ option: CURLoption, _ value: Int) { ccurl_easy_setopt_long(raw, option, value) }
    func set(_ option: CURLoption, _ value: String?) {
        if let value {
            value.withCString { _ = ccurl_easy_setopt_pointer(raw, option, $0) }
        } else {
            ccurl_easy_setopt_pointer(raw, option, nil)
        }
    }
    func set(_ option: CURLoption, pointer: UnsafeRawPointer?) { ccurl_easy_setopt_pointer(raw, option, pointer) }

    func info(_ info: CURLINFO) -> Int {
        var value = 0
        ccurl_easy_getinfo_long(raw, info, &value)
        return value
    }

    func string(_ info: CURLINFO) -> String? {
        var value: UnsafePointer<CChar>?
        ccurl_easy_getinfo_string(raw, info, &value)
        return value.map { String(cString: $0) }
    }

    /// Sets the request's header lines, rebuilding the list only when they changed.
    func setHeaders(_ lines: [String]) {
        guard lines != headerLines || headerList == nil else { return }
        curl_slist_free_all(headerList)
        var list: UnsafeMutablePointer<curl_slist>?
        for line in lines { list = curl_slist_append(list, line) }
        headerList = list
        headerLines = lines
        set(CURLOPT_HTTPHEADER, pointer: UnsafeRawPointer(list))
    }
}

/// One request in flight: what libcurl's callbacks fill in (on the engine thread, while the easy
/// handle is in the multi handle) and the caller's continuation, resumed exactly once.
final class CurlTransfer: @unchecked Sendable {
    // `body`, `headers`, `uploadOffset` and `tooLarge` are written by libcurl's callbacks on the
    // engine thread only, between `submit` and `complete`, and read by `complete` on that thread.
    let easy: CurlEasyHandle
    let upload: [UInt8]
    let maxBodyBytes: Int
    var uploadOffset = 0
    var body: [UInt8] = []
    var headers: [(String, String)] = []
    var tooLarge = false
    /// Maps the finished transfer's code to a failure (the transport knows its proxy).
    private let failure: @Sendable (CURLcode, CurlEasyHandle) -> TransportFailure
    private let release: @Sendable (CurlEasyHandle) -> Void

    private enum State {
        case ready
        /// Handed to the engine; `cancelled` once the caller's task was cancelled.
        case waiting(CheckedContinuation<HTTPAnswer, any Error>, cancelled: Bool)
        case cancelledBeforeStart
        case finished
    }
    private let state = Mutex<State>(.ready)

    init(
        easy: CurlEasyHandle, upload: [UInt8], maxBodyBytes: Int,
        failure: @escaping @Sendable (CURLcode, CurlEasyHandle) -> TransportFailure,
        release: @escaping @Sendable (CurlEasyHandle) -> Void
    ) {
        self.easy = easy
        self.upload = upload
        self.maxBodyBytes = maxBodyBytes
        self.failure = failure
        self.release = release
    }

    /// Runs the transfer on the engine; cancelling the calling task removes it from libcurl.
    func run(on engine: CurlEngine) async throws -> HTTPAnswer {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let start = state.withLock { state -> Bool in
                    guard case .ready = state else { return false }
                    state = .waiting(continuation, cancelled: false)
                    return true
                }
                if start {
                    engine.submit(self)
                } else {
                    // Cancelled before it was handed to the engine: nothing was sent.
                    release(easy)
                    continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let submitted = state.withLock { state -> Bool in
                switch state {
                case .ready:
                    state = .cancelledBeforeStart
                    return false
                case .waiting(let continuation, _):
                    // Marked first: an `add` the engine reads after this refuses to start.
                    state = .waiting(continuation, cancelled: true)
                    return true
                case .cancelledBeforeStart, .finished: return false
                }
            }
            if submitted { engine.cancel(self) }
        }
    }

    /// True once the caller's task was cancelled (the engine checks it before adding the handle).
    var isCancelled: Bool {
        state.withLock {
            if case .waiting(_, let cancelled) = $0 { return cancelled }
            return true
        }
    }

    /// libcurl finished the transfer with `code` (engine thread).
    func complete(_ code: CURLcode) {
        guard code == CURLE_OK else {
            finish(.failure(tooLarge ? TransportFailure.tooLarge(limit: maxBodyBytes) : failure(code, easy)))
            return
        }
        let status = easy.info(CURLINFO_RESPONSE_CODE)
        finish(.success(HTTPAnswer(status: status, headers: headers, body: body)))
    }

    /// Resumes the caller once and gives the easy handle back to its pool (engine thread).
    func finish(_ result: Result<HTTPAnswer, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<HTTPAnswer, any Error>? in
            guard case .waiting(let continuation, _) = state else { return nil }
            state = .finished
            return continuation
        }
        body = []
        headers = []
        release(easy)
        continuation?.resume(with: result)
    }

    // MARK: libcurl's callbacks (engine thread)

    /// CURLOPT_WRITEFUNCTION: the body, stopped past `maxBodyBytes` (CURLE_WRITE_ERROR).
    static let write: ccurl_data_callback = { data, size, count, context in
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
        let bytes = size * count
        guard transfer.body.count + bytes <= transfer.maxBodyBytes else {
            transfer.tooLarge = true
            return 0
        }
        if let data, bytes > 0 {
            transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: bytes))
        }
        return bytes
    }

    /// CURLOPT_HEADERFUNCTION: one header line at a time; a status line starts a new block (the
    /// final answer's headers are the last block).
    static let header: ccurl_data_callback = { data, size, count, context in
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
        let bytes = size * count
        guard let data, bytes > 0 else { return bytes }
        let line = UnsafeRawBufferPointer(start: data, count: bytes)
        if line.starts(with: "HTTP/".utf8) {
            transfer.headers.removeAll(keepingCapacity: true)
        } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            // Spaces, tabs and the CRLF around the value go (bytes: this runs for every header).
            func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
            var start = colon + 1
            var end = line.endIndex
            while start < end, blank(line[start]) { start += 1 }
            while end > start, blank(line[end - 1]) { end -= 1 }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            transfer.headers.append((name, String(decoding: line[start..<end], as: UTF8.self)))
        }
        return bytes
    }

    /// CURLOPT_READFUNCTION: the request body.
    static let read: ccurl_data_callback = { buffer, size, count, context in
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
        let n = min(size * count, transfer.upload.count - transfer.uploadOffset)
        guard let buffer, n > 0 else { return 0 }
        transfer.upload.withUnsafeBytes { source in
            UnsafeMutableRawBufferPointer(start: buffer, count: n).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: source[transfer.uploadOffset..<(transfer.uploadOffset + n)]))
        }
        transfer.uploadOffset += n
        return n
    }

    /// CURLOPT_SEEKFUNCTION: libcurl rewinds the body only to send the request again (after a
    /// kept-alive connection closed without an answer). Once body bytes went out the request may
    /// have arrived: it is never repeated (CURLE_SEND_FAIL_REWIND, "the request may have
    /// arrived") — a create must be looked up by its trade_no, not sent twice.
    static let seek: ccurl_seek_callback = { context, offset, origin in
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
        guard transfer.uploadOffset == 0, offset == 0 else { return CURL_SEEKFUNC_FAIL }
        return CURL_SEEKFUNC_OK
    }
}
