/// Sends one HTTP request and returns the whole response: the seam under the Shipper's sinks and
/// the Sampler's Docker client. `CurlTransport` is the real one; tests substitute a fake.
///
/// Any status is a response, not an error: the caller classifies 4xx and 5xx. Errors are only
/// failures to get a response at all (connect, timeout, cancellation, an oversized body).
public protocol HTTPTransport: Sendable {
    /// Sends `request` and waits for its complete response.
    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse
}
