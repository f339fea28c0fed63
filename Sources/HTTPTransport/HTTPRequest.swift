/// One HTTP request, complete with its body.
public struct HTTPRequest: Sendable {
    /// The request method.
    public enum Method: String, Sendable, Hashable {
        case get = "GET"
        case head = "HEAD"
        case post = "POST"
        case put = "PUT"
        case patch = "PATCH"
        case delete = "DELETE"
    }

    /// The request method.
    public var method: Method
    /// An absolute URL ("http://host:port/path?query"); over a unix socket the host is only
    /// sent as the `Host` header ("http://localhost/v1.43/containers/json").
    public var url: String
    /// Header fields in order; a name may repeat. An empty value sends the header empty.
    public var headers: [(name: String, value: String)]
    /// The body; sent when non-empty, or always for POST, PUT and PATCH.
    public var body: [UInt8]
    /// The whole exchange's limit; nil takes the transport's request timeout.
    public var timeout: Duration?
    /// The connection phase's limit; nil takes the transport's connect timeout.
    public var connectTimeout: Duration?

    /// A request; timeouts left nil fall back to the transport's.
    public init(
        method: Method = .get,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        timeout: Duration? = nil,
        connectTimeout: Duration? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }

    /// Whether a header named `name` (case-insensitively) is present.
    func hasHeader(_ name: String) -> Bool {
        headers.contains { asciiCaseInsensitiveEqual($0.name, name) }
    }
}

/// Header names are ASCII and compare without case (RFC 9110 §5.1).
func asciiCaseInsensitiveEqual(_ left: String, _ right: String) -> Bool {
    let left = left.utf8
    let right = right.utf8
    guard left.count == right.count else { return false }
    return zip(left, right).allSatisfy { lower($0) == lower($1) }
}

private func lower(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
}
