import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One HTTP request as the client builds it.
public struct HTTPExchange: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
}

/// One HTTP answer, body fully read.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Why no answer came back.
public enum TransportFailure: Error, Sendable {
    case timeout
    /// Reset or closed: the request may have arrived.
    case connectionFailed(String)
    /// Refused at connect (ECONNREFUSED): the request never left this machine.
    case refused(String)
}

/// Moves one request to the API and its answer back. The client's only I/O seam: production
/// uses AsyncHTTPClient; the benchmark uses an in-memory answer to measure the client alone.
public protocol DripPayTransport: Sendable {
    /// Throws `TransportFailure` (or `CancellationError`) when no answer arrives.
    func send(_ request: HTTPExchange, timeout: Duration) async throws -> HTTPAnswer
}

/// The production transport over AsyncHTTPClient.
public struct AsyncHTTPClientTransport: DripPayTransport {
    /// The API's HTTP client: AsyncHTTPClient's shared settings but no redirects (the shared
    /// client follows up to 20 and turns a POST into a GET on 301/302); a 3xx comes back as an
    /// answer and the client reports it as a configuration error. Process-wide, never shut down,
    /// like `HTTPClient.shared`.
    public static let apiClient: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    let client: HTTPClient
    let logger: Logger
    /// Largest answer accepted; a page of 100 invoices is far smaller.
    let maxBodyBytes = 8 << 20

    public init(client: HTTPClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func send(_ request: HTTPExchange, timeout: Duration) async throws -> HTTPAnswer {
        var r = HTTPClientRequest(url: request.url)
        r.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { r.headers.add(name: name, value: value) }
        if let body = request.body { r.body = .bytes(ByteBuffer(bytes: body)) }
        let nanos = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let client = self.client
        let logger = self.logger
        let maxBodyBytes = self.maxBodyBytes
        let prepared = r
        do {
            // The deadline given to execute covers only the head; the race covers the body too.
            return try await withThrowingTaskGroup(of: HTTPAnswer?.self) { group in
                group.addTask {
                    let response = try await client.execute(prepared, timeout: .nanoseconds(nanos), logger: logger)
                    let body = try await response.body.collect(upTo: maxBodyBytes)
                    return HTTPAnswer(
                        status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                        body: Array(body.readableBytesView))
                }
                group.addTask {
                    try await Task.sleep(for: timeout + .milliseconds(50))
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let answer = first else { throw TransportFailure.timeout }
                return answer
            }
        } catch let error as TransportFailure {
            throw error
        } catch let error as HTTPClientError {
            if Task.isCancelled { throw CancellationError() }
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .getConnectionFromPoolTimeout, .writeTimeout:
                throw TransportFailure.timeout
            case .remoteConnectionClosed:
                throw TransportFailure.connectionFailed("the server closed the connection before answering")
            default:
                throw TransportFailure.connectionFailed(String(describing: error))
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            if Self.isRefused(error) { throw TransportFailure.refused("connection refused") }
            throw TransportFailure.connectionFailed(String(describing: error))
        }
    }

    /// NIO's connect errors, shortened to what a person needs (for messages only: decisions
    /// use `isRefused`, on the error's type).
    static func describe(_ error: any Error) -> String {
        isRefused(error) ? "connection refused" : String(describing: error)
    }

    /// Whether NIO refused the connect (ECONNREFUSED on every address tried), by type.
    static func isRefused(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == ECONNREFUSED }
        if let connection = error as? NIOConnectionError {
            return !connection.connectionErrors.isEmpty
                && connection.connectionErrors.allSatisfy { isRefused($0.error) }
        }
        return false
    }
}
