/// A parsed JSON document, kept close to the text: numbers keep their literal and objects keep
/// their members in order (duplicates included), so the config decoder can report exactly what
/// the file said.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The JSON type with its article, for messages: "expected an integer, got a string".
    public var typeDescription: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number(let number): number.integer != nil ? "an integer" : "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The type and, for scalars, a short rendering of the value: `a string ("5220")`.
    public var typeAndValueDescription: String {
        switch self {
        case .null, .array, .object: typeDescription
        case .bool(let value): "a boolean (\(value))"
        case .number(let number): "\(typeDescription) (\(number.text))"
        case .string(let string): "a string (\(quoted(string, limit: 40)))"
        }
    }
}

/// A JSON number: its literal text and its value; `integer` is set when the value is a whole
/// number that fits an `Int` (so `5220`, `5220.0` and `1e3` are integers, `0.5` is not).
public struct JSONNumber: Sendable, Equatable {
    public let text: String
    public let double: Double
    public let integer: Int?

    init(text: String, double: Double, integer: Int?) {
        self.text = text
        self.double = double
        self.integer = integer
    }

    init(_ value: Int) {
        self.init(text: String(value), double: Double(value), integer: value)
    }

    init(_ value: Double) {
        self.init(text: formatNumber(value), double: value, integer: wholeNumber(value))
    }
}

/// A JSON object's members in document order; a key may appear more than once.
public struct JSONObject: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
    }

    public var members: [Member] = []

    /// The value of the last member named `key`, as most JSON readers resolve duplicates.
    public subscript(key: String) -> JSONValue? {
        get { members.last { $0.key == key }?.value }
        set {
            members.removeAll { $0.key == key }
            if let newValue { members.append(Member(key: key, value: newValue)) }
        }
    }
}

extension JSONValue {
    /// Sets the value at a chain of object keys, creating missing objects on the way; returns
    /// false (changing nothing) when something on the way is not an object.
    mutating func set(_ value: JSONValue, at keys: some Collection<String>) -> Bool {
        guard let key = keys.first else {
            self = value
            return true
        }
        guard case .object(var object) = self else { return false }
        var child = object[key] ?? .object(JSONObject())
        if case .null = child, keys.count > 1 { child = .object(JSONObject()) }
        guard child.set(value, at: keys.dropFirst()) else { return false }
        object[key] = child
        self = .object(object)
        return true
    }
}

/// `value` as an `Int` when it is a whole number in `Int`'s range.
func wholeNumber(_ value: Double) -> Int? {
    guard value.isFinite, value.rounded(.towardZero) == value,
        value >= -9_223_372_036_854_775_808.0, value < 9_223_372_036_854_775_808.0
    else { return nil }
    return Int(value)
}

/// A double for people: `15`, not `15.0`; `0.1` stays `0.1`.
func formatNumber(_ value: Double) -> String {
    if let whole = wholeNumber(value), abs(whole) < 1 << 53 { return String(whole) }
    return "\(value)"
}

/// A string in double quotes with quotes, backslashes and control characters escaped, cut to
/// `limit` characters with an ellipsis.
func quoted(_ string: String, limit: Int = 80) -> String {
    var result = "\""
    for (offset, character) in string.enumerated() {
        if offset == limit {
            result += "…"
            break
        }
        switch character {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        default:
            if let ascii = character.asciiValue, ascii < 0x20 || ascii == 0x7f {
                result += "\\u{\(String(ascii, radix: 16))}"
            } else {
                result.append(character)
            }
        }
    }
    return result + "\""
}
