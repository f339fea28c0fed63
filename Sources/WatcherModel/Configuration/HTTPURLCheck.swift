/// Checks that a string is an absolute `http` or `https` URL with a host, and says what is
/// wrong when it is not. Deliberately small: it accepts what libcurl will accept for these
/// schemes and refuses the mistakes people make in config files.
enum HTTPURLCheck {
    /// nil when `string` is a usable http(s) URL, else why not.
    static func problem(with string: String) -> String? {
        if string.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F })
        {
            return "\(quoted(string)) is not a URL: it contains spaces or control characters"
        }
        let lowered = string.lowercased()
        let afterScheme: Substring
        if lowered.hasPrefix("http://") {
            afterScheme = string.dropFirst(7)
        } else if lowered.hasPrefix("https://") {
            afterScheme = string.dropFirst(8)
        } else {
            return "\(quoted(string)) is not an http(s) URL: it must start with http:// or https://"
        }
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var hostAndPort = authority
        if let at = authority.lastIndex(of: "@") { hostAndPort = authority[authority.index(after: at)...] }
        let host: Substring
        let port: Substring?
        if hostAndPort.hasPrefix("[") {
            guard let close = hostAndPort.firstIndex(of: "]") else {
                return "\(quoted(string)) has an unclosed '[' in its host"
            }
            host = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            guard host.contains(":"), IPAddressLiteral(String(host)) != nil else {
                return "\(quoted(string)) has an invalid IPv6 address in brackets"
            }
            let rest = hostAndPort[hostAndPort.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else { return "\(quoted(string)) has junk after its IPv6 host" }
            port = rest.isEmpty ? nil : rest.dropFirst()
        } else {
            let parts = hostAndPort.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            port = parts.count > 1 ? parts[1] : nil
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._~%".contains($0)) }) else {
                return "\(quoted(string)) has an invalid character in its host \(quoted(String(host)))"
            }
        }
        if host.isEmpty { return "\(quoted(string)) has no host" }
        if let port {
            guard let number = Int(port), port.allSatisfy(\.isNumber), (1...65535).contains(number) else {
                return "\(quoted(string)) has an invalid port \(quoted(String(port))); it must be between 1 and 65535"
            }
        }
        return nil
    }
}
