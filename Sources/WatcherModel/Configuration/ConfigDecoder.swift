/// Collects problems while a config tree is turned into a `Config`, and converts single JSON
/// values to Swift values, reporting a problem (and returning nil) for a wrong type or an
/// out-of-range value. It never stops at the first problem: callers fall back to defaults and
/// carry on, so one pass finds everything.
final class ConfigDecoder {
    private(set) var problems: [ConfigProblem] = []

    func report(_ path: String, _ message: String) {
        problems.append(ConfigProblem(path: path, message: message))
    }

    func typeMismatch(_ path: String, expected: String, got value: JSONValue) {
        report(path, "expected \(expected), got \(value.typeAndValueDescription)")
    }

    func string(_ value: JSONValue, at path: String) -> String? {
        guard case .string(let string) = value else {
            typeMismatch(path, expected: "a string", got: value)
            return nil
        }
        return string
    }

    /// A string that must not be empty (nor hold a NUL, which no file name or label can).
    func nonEmptyString(_ value: JSONValue, at path: String) -> String? {
        guard let string = string(value, at: path) else { return nil }
        if string.isEmpty {
            report(path, "must not be empty")
            return nil
        }
        if string.utf8.contains(0) {
            report(path, "must not contain a NUL character")
            return nil
        }
        return string
    }

    func bool(_ value: JSONValue, at path: String) -> Bool? {
        guard case .bool(let bool) = value else {
            typeMismatch(path, expected: "a boolean (true or false)", got: value)
            return nil
        }
        return bool
    }

    /// A whole number in `range`; `5.0` and `1e3` are whole, `0.5` and `"5"` are not.
    func int(_ value: JSONValue, at path: String, in range: ClosedRange<Int>) -> Int? {
        guard case .number(let number) = value, let integer = number.integer else {
            if case .number(let number) = value, number.double.isFinite,
                number.double.rounded(.towardZero) == number.double
            {
                report(path, "\(number.text) is too large; \(describe(range))")
            } else {
                typeMismatch(path, expected: "an integer", got: value)
            }
            return nil
        }
        guard range.contains(integer) else {
            report(path, "\(describe(range)), got \(number.text)")
            return nil
        }
        return integer
    }

    /// Any finite number in `range`.
    func double(_ value: JSONValue, at path: String, in range: ClosedRange<Double>) -> Double? {
        guard case .number(let number) = value else {
            typeMismatch(path, expected: "a number", got: value)
            return nil
        }
        guard number.double.isFinite, range.contains(number.double) else {
            report(path, "\(describe(range)), got \(number.text)")
            return nil
        }
        return number.double
    }

    /// One of an enumeration's raw values, suggesting the closest when the value is none of them.
    func choice<Choice: RawRepresentable & CaseIterable>(
        _ value: JSONValue,
        at path: String,
        as _: Choice.Type = Choice.self
    ) -> Choice? where Choice.RawValue == String {
        oneOf(Choice.allCases.map(\.rawValue), value, at: path).flatMap(Choice.init(rawValue:))
    }

    /// One of `allowed`, suggesting the closest when the value is none of them.
    func oneOf(_ allowed: [String], _ value: JSONValue, at path: String) -> String? {
        guard let string = string(value, at: path) else { return nil }
        guard allowed.contains(string) else {
            var message = "must be one of \(allowed.map { quoted($0) }.joined(separator: ", ")), got \(quoted(string))"
            if let suggestion = closestKey(to: string, among: allowed) {
                message += "; did you mean \(quoted(suggestion))?"
            }
            report(path, message)
            return nil
        }
        return string
    }

    /// The elements of an array with their paths; nil (after a problem) when it is no array.
    func array(_ value: JSONValue, at path: String) -> [(value: JSONValue, path: String)]? {
        guard case .array(let elements) = value else {
            typeMismatch(path, expected: "an array", got: value)
            return nil
        }
        return elements.enumerated().map { ($0.element, JSONPath.element(path, $0.offset)) }
    }
}

/// "must be between 1 and 65535", "must be at least 1".
func describe(_ range: ClosedRange<Int>) -> String {
    range.upperBound == .max
        ? "must be at least \(range.lowerBound)"
        : "must be between \(range.lowerBound) and \(range.upperBound)"
}

/// "must be between 0 and 100", "must be at least 0.1".
func describe(_ range: ClosedRange<Double>) -> String {
    range.upperBound == .greatestFiniteMagnitude
        ? "must be at least \(formatNumber(range.lowerBound))"
        : "must be between \(formatNumber(range.lowerBound)) and \(formatNumber(range.upperBound))"
}

/// Builds the JSONPath-style locations problems are reported at: `$.spool.dir`, `$.ports[0]`.
enum JSONPath {
    static let root = "$"

    static func member(_ base: String, _ key: String) -> String {
        let isIdentifier =
            key.first.map { $0 == "_" || ($0.isASCII && $0.isLetter) } ?? false
            && key.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
        return isIdentifier ? "\(base).\(key)" : "\(base)[\(quoted(key))]"
    }

    static func element(_ base: String, _ index: Int) -> String {
        "\(base)[\(index)]"
    }
}
