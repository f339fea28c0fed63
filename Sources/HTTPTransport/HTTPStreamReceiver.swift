/// Where a streamed response goes as it arrives (`CurlTransport.stream`): its status once the
/// header block is complete, then each piece of a 2xx body. Called on the transport's thread,
/// one call at a time; the calls must not block.
public struct HTTPStreamReceiver: Sendable {
    /// Called once the final response's headers are in, with its status.
    public var response: @Sendable (Int) -> Void
    /// Called with each piece of a 2xx body as it arrives; false ends the stream.
    public var body: @Sendable ([UInt8]) -> Bool

    /// A receiver of a response's status and its body's pieces.
    public init(response: @escaping @Sendable (Int) -> Void, body: @escaping @Sendable ([UInt8]) -> Bool) {
        self.response = response
        self.body = body
    }
}

/// A transport that can also hand a long-lived response's body over as it arrives (the Docker
/// engine's `/events`), instead of waiting for its end.
public protocol HTTPStreamingTransport: HTTPTransport {
    /// Sends `request` and hands the response to `receiver` as it arrives; returns when the
    /// response ends (the server closed it, the request's timeout passed, the receiver stopped it,
    /// or the calling task was cancelled). A non-2xx body is not streamed: it is in the result.
    func stream(
        _ request: HTTPRequest,
        to receiver: HTTPStreamReceiver
    ) async throws(HTTPTransportError)
        -> HTTPResponse
}
