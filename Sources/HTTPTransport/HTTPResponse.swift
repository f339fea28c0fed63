/// A complete HTTP response: the final status, its header fields, and the (decoded) body.
public struct HTTPResponse: Sendable {
    /// The status code of the final response (interim 1xx responses are skipped).
    public var status: Int
    /// The final response's header fields in the order received; names as the server spelled them.
    public var headers: [(name: String, value: String)]
    /// The body after content decoding (gzip when the transport accepts it).
    public var body: [UInt8]

    /// A response, as a transport or a fake builds it.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of the header `name`, compared without case; nil when absent.
    public func header(_ name: String) -> String? {
        headers.first { asciiCaseInsensitiveEqual($0.name, name) }?.value
    }

    /// Every value of the header `name` (it may repeat, e.g. `Set-Cookie`), in order.
    public func headerValues(_ name: String) -> [String] {
        headers.filter { asciiCaseInsensitiveEqual($0.name, name) }.map(\.value)
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }
}
