/// The host and port of an absolute `http` or `https` URL (the scheme's default port, 80 or
/// 443, when it names none): where a sink's requests connect.
public struct HTTPURLAuthority: Sendable, Equatable {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// nil when `url` is not a usable http(s) URL (`HTTPURLCheck` says why, at config load).
    public init?(url: String) {
        guard case .authority(let authority) = HTTPURLCheck.parse(url) else { return nil }
        self = authority
    }
}

/// Checks that a string is an absolute `http` or `https` URL with a host, and says what is
/// wrong when it is not. Deliberately small: it accepts what libcurl will accept for these
/// schemes and refuses the mistakes people make in config files.
enum HTTPURLCheck {
    enum Parsed {
        case authority(HTTPURLAuthority)
        case problem(String)
    }

    /// nil when `string` is a usable http(s) URL, else why not.
    static func problem(with string: String) -> String? {
        if case .problem(let problem) = parse(string) { return problem }
        return nil
    }

    /// The URL's host and port, or why it is not a usable http(s) URL.
    static func parse(_ string: String) -> Parsed {
        func problem(_ text: String) -> Parsed { .problem(text) }
        if string.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F })
        {
            return problem("\(quoted(string)) is not a URL: it contains spaces or control characters")
        }
        let lowered = string.lowercased()
        let afterScheme: Substring
        let defaultPort: UInt16
        if lowered.hasPrefix("http://") {
            afterScheme = string.dropFirst(7)
            defaultPort = 80
        } else if lowered.hasPrefix("https://") {
            afterScheme = string.dropFirst(8)
            defaultPort = 443
        } else {
            return problem("\(quoted(string)) is not an http(s) URL: it must start with http:// or https://")
        }
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var hostAndPort = authority
        if let at = authority.lastIndex(of: "@") { hostAndPort = authority[authority.index(after: at)...] }
        let host: Substring
        let port: Substring?
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else {
                return problem("\(quoted(string)) has an unclosed '[' in its host")
            }
            host = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            guard host.contains(":"), IPAddressLiteral(String(host)) != nil else {
                return problem("\(quoted(string)) has an invalid IPv6 address in brackets")
            }
            let rest = hostAndPort[hostAndPort.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else {
                return problem("\(quoted(string)) has junk after its IPv6 host")
            }
            port = rest.isEmpty ? nil : rest.dropFirst()
        } else {
            let parts = hostAndPort.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            port = parts.count > 1 ? parts[1] : nil
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._~%".contains($0)) }) else {
                return problem("\(quoted(string)) has an invalid character in its host \(quoted(String(host)))")
            }
        }
        if host.isEmpty { return problem("\(quoted(string)) has no host") }
        guard let port else { return .authority(HTTPURLAuthority(host: String(host), port: defaultPort)) }
        guard let number = UInt16(port), port.allSatisfy(\.isNumber), number >= 1 else {
            return problem(
                "\(quoted(string)) has an invalid port \(quoted(String(port))); it must be between 1 and 65535"
            )
        }
        return .authority(HTTPURLAuthority(host: String(host), port: number))
    }
}
