/// Reads the members of one JSON object by key, remembering which keys it was asked for, so
/// `finish()` can report every other key as unknown (with the closest known key) and every key
/// given twice. A missing or mistyped object reads as empty, so defaults still fill in.
struct ObjectReader {
    let path: String
    let decoder: ConfigDecoder
    /// True when the value was not an object (already reported): required keys are then not
    /// reported missing, as that would only repeat the one problem.
    let isMistyped: Bool
    private let object: JSONObject
    private var knownKeys: [String] = []

    /// A reader of `value` at `path`; nil `value` (the key was absent) reads as `{}`.
    init(_ value: JSONValue?, at path: String, decoder: ConfigDecoder) {
        self.path = path
        self.decoder = decoder
        switch value {
        case .object(let object):
            self.object = object
            isMistyped = false
        case .none:
            self.object = JSONObject()
            isMistyped = false
        case .some(let other):
            decoder.typeMismatch(path, expected: "an object", got: other)
            self.object = JSONObject()
            isMistyped = true
        }
    }

    /// The value of `key` and its path, or nil when absent; marks `key` as known.
    mutating func member(_ key: String) -> (value: JSONValue, path: String)? {
        knownKeys.append(key)
        return object[key].map { ($0, JSONPath.member(path, key)) }
    }

    /// The value of `key` unless it is absent or `null`.
    mutating func present(_ key: String) -> (value: JSONValue, path: String)? {
        guard let member = member(key), member.value != .null else { return nil }
        return member
    }

    /// The value of `key` without marking it known.
    func peek(_ key: String) -> JSONValue? { object[key] }

    mutating func string(_ key: String, default defaultValue: String) -> String {
        member(key).flatMap { decoder.nonEmptyString($0.value, at: $0.path) } ?? defaultValue
    }

    /// An optional string: absent or `null` is nil, `""` is a problem.
    mutating func optionalString(_ key: String) -> String? {
        present(key).flatMap { decoder.nonEmptyString($0.value, at: $0.path) }
    }

    mutating func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) -> Int {
        member(key).flatMap { decoder.int($0.value, at: $0.path, in: range) } ?? defaultValue
    }

    mutating func optionalInt(_ key: String, in range: ClosedRange<Int>) -> Int? {
        present(key).flatMap { decoder.int($0.value, at: $0.path, in: range) }
    }

    mutating func double(_ key: String, default defaultValue: Double, in range: ClosedRange<Double>) -> Double {
        member(key).flatMap { decoder.double($0.value, at: $0.path, in: range) } ?? defaultValue
    }

    mutating func optionalDouble(_ key: String, in range: ClosedRange<Double>) -> Double? {
        present(key).flatMap { decoder.double($0.value, at: $0.path, in: range) }
    }

    mutating func bool(_ key: String, default defaultValue: Bool) -> Bool {
        member(key).flatMap { decoder.bool($0.value, at: $0.path) } ?? defaultValue
    }

    mutating func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, default defaultValue: Choice) -> Choice
    where Choice.RawValue == String {
        member(key).flatMap { decoder.choice($0.value, at: $0.path, as: Choice.self) } ?? defaultValue
    }

    /// The elements of an array member; absent or `null` is empty.
    mutating func array(_ key: String) -> [(value: JSONValue, path: String)] {
        present(key).flatMap { decoder.array($0.value, at: $0.path) } ?? []
    }

    /// An array of non-empty strings; absent is empty.
    mutating func stringArray(_ key: String) -> [String] {
        array(key).compactMap { decoder.nonEmptyString($0.value, at: $0.path) }
    }

    /// A reader of a nested object; absent or `null` reads as `{}`.
    mutating func object(_ key: String) -> ObjectReader {
        let member = present(key)
        return ObjectReader(member?.value, at: member?.path ?? JSONPath.member(path, key), decoder: decoder)
    }

    /// Reports keys given twice and keys nobody asked for; call after reading every known key.
    func finish() {
        var seen: Set<String> = []
        var reportedDuplicates: Set<String> = []
        for member in object.members {
            let memberPath = JSONPath.member(path, member.key)
            if !seen.insert(member.key).inserted {
                if reportedDuplicates.insert(member.key).inserted {
                    decoder.report(memberPath, "duplicate key \(quoted(member.key))")
                }
                continue
            }
            guard !knownKeys.contains(member.key) else { continue }
            var message = "unknown key \(quoted(member.key))"
            if let suggestion = closestKey(to: member.key, among: knownKeys) {
                message += "; did you mean \(quoted(suggestion))?"
            }
            decoder.report(memberPath, message)
        }
    }
}
