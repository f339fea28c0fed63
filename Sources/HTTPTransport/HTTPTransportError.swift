/// Why a request got no response: the one error type of this module.
public struct HTTPTransportError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure, for the caller's retry decision.
    public enum Code: String, Sendable, Hashable {
        /// No connection could be made (refused, unreachable, name not resolved, no such socket).
        case connect
        /// The connect or the whole-request timeout passed.
        case timeout
        /// The calling task was cancelled while the request was queued or in flight.
        case cancelled
        /// The response body exceeded the transport's limit; the transfer was aborted.
        case responseTooLarge
        /// The request itself was unusable (malformed URL, unsupported scheme).
        case invalidRequest
        /// The transport was torn down before the request ran.
        case shutDown
        /// Anything else: the connection dropped mid-response, a protocol error, …
        case other
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong, from libcurl's error buffer when it said something.
    public var message: String
    /// libcurl's `CURLcode`, when the failure came from libcurl.
    public var curlCode: Int?

    /// An error; `curlCode` is nil for failures outside libcurl.
    public init(code: Code, message: String, curlCode: Int? = nil) {
        self.code = code
        self.message = message
        self.curlCode = curlCode
    }

    /// "timeout: Operation timed out after 300 milliseconds … (curl 28)".
    public var description: String {
        "\(code.rawValue): \(message)" + (curlCode.map { " (curl \($0))" } ?? "")
    }
}
