import NIOHTTP1

/// What a metering proxy accepts of a request head, checked on the head as the client sent it
/// (before Hummingbird turns it into an `HTTPRequest`, which drops the first `Host` and turns an
/// absolute-form target into a path). A proxy in front of one upstream takes origin-form
/// requests only, framed one way only: anything else could be sent on to another address than
/// the upstream, or be read by the upstream as a different request than the proxy metered.
enum ProxyRequestCheck {
    /// Why a head is refused: the answer's status and JSON error, and the `SourceLimits` reason.
    struct Refusal: Error, Equatable {
        var status: HTTPResponseStatus
        /// The JSON error's `code`.
        var code: String
        /// What is wrong, for people.
        var message: String
        /// The `resource_watcher_source_limited_total` reason.
        var reason: String

        static func badRequest(_ code: String, _ message: String) -> Refusal {
            Refusal(status: .badRequest, code: code, message: message, reason: "proxy_request_refused")
        }
    }

    /// Why `head` must not be forwarded, or nil when it may. `maxBodyBytes` bounds a declared
    /// Content-Length (413); a chunked body is counted as it streams (`ProxyResponder`).
    static func refusal(of head: HTTPRequestHead, maxBodyBytes: Int) -> Refusal? {
        if let refusal = targetRefusal(method: head.method, target: head.uri) { return refusal }
        if let refusal = framingRefusal(head) { return refusal }
        if let length = head.headers.first(name: "content-length").flatMap({ Int($0) }), length > maxBodyBytes {
            return Refusal(
                status: .payloadTooLarge,
                code: "body_too_large",
                message:
                    "the request body of \(length) bytes is larger than the proxy's max_body_bytes (\(maxBodyBytes))",
                reason: "proxy_body_too_large"
            )
        }
        return nil
    }

    /// Only origin-form targets: a path starting with `/`, of visible ASCII, without `\` or `#`.
    static func targetRefusal(method: HTTPMethod, target: String) -> Refusal? {
        if method == .CONNECT {
            return .badRequest(
                "connect_refused",
                "CONNECT is not proxied: the metering proxy forwards origin-form requests (a path starting with /) "
                    + "to its one upstream"
            )
        }
        guard let first = target.utf8.first else {
            return .badRequest("invalid_request_target", "the request target is empty")
        }
        guard first == UInt8(ascii: "/") else {
            let form: String
            if target == "*" {
                form = "an asterisk-form target (*)"
            } else if target.contains("://") {
                form = "an absolute-form target (a URL)"
            } else {
                form = "an authority-form or other target"
            }
            return .badRequest(
                "invalid_request_target",
                "the request target is \(form): the metering proxy takes origin-form requests only "
                    + "(a path starting with /)"
            )
        }
        let refused = target.utf8.contains { byte in
            byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "#")
        }
        if refused {
            return .badRequest(
                "invalid_request_target",
                "the request target has a byte that is not allowed (a control or non-ASCII byte, a space, \\ or #)"
            )
        }
        return nil
    }

    /// One `Host`; one framing: at most one Content-Length of digits, or Transfer-Encoding
    /// `chunked` alone (RFC 9112 §6.3: both together is how requests are smuggled).
    static func framingRefusal(_ head: HTTPRequestHead) -> Refusal? {
        let hosts = head.headers["host"]
        if hosts.count > 1 || hosts.first?.contains(",") == true {
            return .badRequest("duplicate_host", "the request has more than one Host")
        }
        if hosts.isEmpty, head.version.major == 1, head.version.minor >= 1 {
            return .badRequest("missing_host", "an HTTP/1.1 request must have a Host header")
        }
        let lengths = head.headers["content-length"]
        let encodings = head.headers["transfer-encoding"]
        if !lengths.isEmpty, !encodings.isEmpty {
            return .badRequest(
                "conflicting_framing",
                "the request has both Content-Length and Transfer-Encoding; send one of them"
            )
        }
        if lengths.count > 1 {
            return .badRequest("conflicting_content_length", "the request has more than one Content-Length")
        }
        if let length = lengths.first,
            length.isEmpty || length.utf8.count > 18 || !length.utf8.allSatisfy({ (0x30...0x39).contains($0) })
        {
            return .badRequest("invalid_content_length", "the Content-Length is not a number of bytes")
        }
        if encodings.count > 1
            || encodings.first.map({ $0.trimmedLowercased != "chunked" }) == true
        {
            return .badRequest(
                "unsupported_transfer_encoding",
                "the only Transfer-Encoding the proxy takes is chunked, once"
            )
        }
        return nil
    }
}

extension String {
    /// Without leading and trailing spaces and tabs, lowercased.
    fileprivate var trimmedLowercased: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text.lowercased()
    }
}
