public import Logging
import Synchronization

/// HTTP over libcurl: one easy handle on one dedicated thread per transport, so requests through
/// the same transport run one at a time and reuse its connection (keep-alive).
///
/// Make one per destination (a sink, the Docker socket). `curl_easy_perform` blocks; it runs on
/// the transport's own thread, never on Swift's cooperative pool. Cancelling the calling task
/// aborts a queued request at once and an in-flight one within about a second (libcurl's
/// progress callback), with `HTTPTransportError.Code.cancelled`.
public final class CurlTransport: HTTPStreamingTransport {
    /// What every request of a transport shares.
    struct Options: Sendable {
        var unixSocketPath: String?
        var userAgent: String
        var connectTimeout: Duration
        var requestTimeout: Duration
        var acceptGzip: Bool
        var maximumResponseBodyBytes: Int
    }

    private let worker: WorkerThread<CurlSession>
    private let logger: Logger

    /// A transport; over `unixSocketPath` when given (the URL's host then only names the `Host`
    /// header). Timeouts apply per request unless the request sets its own; with `acceptGzip`
    /// the request offers every encoding libcurl decodes and the body arrives decoded. A body
    /// longer than `maximumResponseBodyBytes` (after decoding) fails the request.
    public init(
        unixSocketPath: String? = nil,
        userAgent: String,
        connectTimeout: Duration = .seconds(5),
        requestTimeout: Duration = .seconds(30),
        acceptGzip: Bool = true,
        maximumResponseBodyBytes: Int = 16 << 20,
        logger: Logger = Logger(label: "resource-watcher.http", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        precondition(connectTimeout > .zero && requestTimeout > .zero, "timeouts must be positive")
        precondition(maximumResponseBodyBytes >= 0, "the response body limit cannot be negative")
        let options = Options(
            unixSocketPath: unixSocketPath,
            userAgent: userAgent,
            connectTimeout: connectTimeout,
            requestTimeout: requestTimeout,
            acceptGzip: acceptGzip,
            maximumResponseBodyBytes: maximumResponseBodyBytes
        )
        self.worker = WorkerThread { CurlSession(options: options) }
        self.logger = logger
    }

    public func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        try await perform(request, receiver: nil)
    }

    /// Streams the response to `receiver` on the transport's thread, which it holds until the
    /// response ends: give a long-lived stream a transport of its own.
    public func stream(
        _ request: HTTPRequest,
        to receiver: HTTPStreamReceiver
    ) async throws(HTTPTransportError) -> HTTPResponse {
        try await perform(request, receiver: receiver)
    }

    private func perform(
        _ request: HTTPRequest,
        receiver: HTTPStreamReceiver?
    ) async throws(HTTPTransportError) -> HTTPResponse {
        let cancellation = CancellationFlag()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation {
                (continuation: CheckedContinuation<Result<HTTPResponse, HTTPTransportError>, Never>) in
                let accepted = worker.submit { session in
                    continuation.resume(
                        returning: session.perform(request, cancellation: cancellation, receiver: receiver)
                    )
                }
                if !accepted {
                    continuation.resume(
                        returning: .failure(HTTPTransportError(code: .shutDown, message: "the transport is shut down"))
                    )
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
        if case .failure(let error) = result {
            logger.debug(
                "http request failed",
                metadata: [
                    "http.method": "\(request.method.rawValue)", "http.url": "\(request.url)",
                    "http.error": "\(error)",
                ]
            )
        }
        return try result.get()
    }
}

/// Set when the task that sent a request is cancelled; read by the worker between and during transfers.
final class CancellationFlag: Sendable {
    private let flag = Atomic(false)

    var isCancelled: Bool { flag.load(ordering: .relaxed) }

    func cancel() { flag.store(true, ordering: .relaxed) }
}
