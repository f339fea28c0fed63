/// Readers for the config's own kinds of value: tenant and component names, URLs, hashes.
extension ObjectReader {
    /// A tenant or component name: a letter or digit, then letters, digits, `_`, `.` or `-`,
    /// at most 128 characters; the rule Docker has for container names, so names stay safe as
    /// labels, headers and file names.
    mutating func identifier(_ key: String, default defaultValue: String) -> String {
        if let value = peek(key), value == .null {
            decoder.typeMismatch(JSONPath.member(path, key), expected: "a string", got: value)
            _ = member(key)
            return defaultValue
        }
        return optionalIdentifier(key) ?? defaultValue
    }

    mutating func optionalIdentifier(_ key: String) -> String? {
        guard let member = present(key), let string = decoder.nonEmptyString(member.value, at: member.path) else {
            return nil
        }
        guard isIdentifier(string) else {
            decoder.report(
                member.path,
                "\(quoted(string)) must start with a letter or digit and contain only letters, digits, "
                    + "'_', '.' and '-' (at most 128)"
            )
            return nil
        }
        return string
    }

    /// An absolute http(s) URL; absent or `null` is nil.
    mutating func optionalURL(_ key: String) -> String? {
        guard let member = present(key), let string = decoder.nonEmptyString(member.value, at: member.path) else {
            return nil
        }
        if let problem = HTTPURLCheck.problem(with: string) {
            decoder.report(member.path, problem)
            return nil
        }
        return string
    }

    /// A URL path: starts with `/`, no spaces.
    mutating func optionalURLPath(_ key: String) -> String? {
        guard let member = present(key), let string = decoder.nonEmptyString(member.value, at: member.path) else {
            return nil
        }
        guard string.hasPrefix("/"), !string.contains(where: { $0.isWhitespace }) else {
            decoder.report(member.path, "\(quoted(string)) must be a URL path starting with '/' and without spaces")
            return nil
        }
        return string
    }

    /// A SHA-256 hash in hex: exactly 64 characters 0-9 and a-f. Required.
    mutating func sha256(_ key: String) -> String {
        guard let member = present(key) else {
            if !isMistyped {
                decoder.report(JSONPath.member(path, key), "is required (the token's SHA-256 in lowercase hex)")
            }
            return ""
        }
        guard let string = decoder.string(member.value, at: member.path) else { return "" }
        let isHash =
            string.utf8.count == 64
            && string.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        guard isHash else {
            let hint = string.utf8.count == 64 && string.lowercased() != string ? " (use lowercase)" : ""
            decoder.report(
                member.path,
                "must be the token's SHA-256 as 64 lowercase hex characters\(hint); "
                    + "compute it with: printf %s \"$TOKEN\" | sha256sum"
            )
            return ""
        }
        return string
    }

    /// A required member: nil after an "is required" problem when absent or `null`.
    mutating func required(_ key: String) -> (value: JSONValue, path: String)? {
        guard let member = present(key) else {
            if !isMistyped { decoder.report(JSONPath.member(path, key), "is required") }
            return nil
        }
        return member
    }

    /// A required identifier (see `identifier(_:default:)`).
    mutating func requiredIdentifier(_ key: String) -> String? {
        guard let value = peek(key), value != .null else {
            _ = required(key)
            return nil
        }
        return optionalIdentifier(key)
    }
}

/// Whether `string` is a tenant or component name, `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`: the rule for
/// every `client_id`, in the config and in the status API alike.
public func isIdentifier(_ string: String) -> Bool {
    let utf8 = string.utf8
    guard let first = utf8.first, utf8.count <= 128, isASCIIAlphanumeric(first) else { return false }
    return utf8.allSatisfy {
        isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
    }
}

/// A Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
func isMetricName(_ string: String) -> Bool {
    let utf8 = string.utf8
    guard let first = utf8.first, !isASCIIDigit(first) else { return false }
    return utf8.allSatisfy { isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") }
}

private func isASCIIDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

private func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
    isASCIIDigit(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
}
