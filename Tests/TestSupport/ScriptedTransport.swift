public import HTTPTransport
import Synchronization

/// A transport that answers every request with what `answer` returns, and records the URLs asked.
public final class ScriptedTransport: HTTPTransport {
    private let answer: @Sendable (HTTPRequest) -> HTTPResponse
    private let urls = Mutex<[String]>([])

    public init(_ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) { self.answer = answer }

    /// A transport that answers every request with `response`.
    public convenience init(always response: HTTPResponse) { self.init { _ in response } }

    /// How many requests were sent.
    public var calls: Int { urls.withLock { $0.count } }
    /// The URL of every request, in order.
    public var requestedURLs: [String] { urls.withLock { $0 } }

    public func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        urls.withLock { $0.append(request.url) }
        return answer(request)
    }
}
