import HTTPTransport

/// Why a Docker Engine API call gave no usable answer.
struct DockerError: Error, CustomStringConvertible, Sendable {
    enum Code: String, Sendable, Hashable {
        /// The socket could not be reached, or the request timed out or was cancelled.
        case transport
        /// 404: no such container (it went away between the list and this call), or no such endpoint.
        case notFound
        /// Any other non-2xx status.
        case unexpectedStatus
        /// The body was not the JSON the API documents.
        case malformedResponse
        /// The engine speaks only API versions older than `DockerAPIVersion.oldestSupported`.
        case unsupportedVersion
    }

    /// The kind of failure.
    var code: Code
    /// The engine's own message (its `{"message": …}` body) or what failed to decode.
    var message: String
    /// The HTTP status, when there was a response.
    var status: Int?
    /// The transport's error, when there was no response.
    var transportError: HTTPTransportError?

    var description: String {
        "docker \(code.rawValue): \(message)" + (status.map { " (HTTP \($0))" } ?? "")
    }
}
