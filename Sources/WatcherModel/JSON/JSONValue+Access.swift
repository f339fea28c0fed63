/// Reading parsed JSON without a schema: nil (or empty) where the value has another shape.
extension JSONValue {
    /// The member `key` of an object; nil for anything else.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }

    /// The string; nil for anything else.
    public var text: String? { if case .string(let text) = self { text } else { nil } }

    /// The number as a double; nil for anything else.
    public var double: Double? { if case .number(let number) = self { number.double } else { nil } }

    /// The number as an integer when it is one; nil for anything else.
    public var int: Int? { if case .number(let number) = self { number.integer } else { nil } }

    /// The elements of an array; empty for anything else.
    public var elements: [JSONValue] { if case .array(let elements) = self { elements } else { [] } }

    /// The members of an object, in order; empty for anything else.
    public var members: [JSONObject.Member] { if case .object(let object) = self { object.members } else { [] } }
}
