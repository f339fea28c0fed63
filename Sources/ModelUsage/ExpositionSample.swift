/// One label of a sample, as written: `name="value"` with the value unescaped.
public struct ExpositionLabel: Sendable, Equatable {
    /// The label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    public var name: String
    /// The label value with `\\`, `\"` and `\n` escapes resolved; always valid UTF-8.
    public var value: String
}

/// One sample line: a series name, its labels, a value and an optional timestamp.
public struct ExpositionSample: Sendable, Equatable {
    /// The series name as written, e.g. `vllm:prompt_tokens_total` or `x_bucket` (suffix included).
    public var name: String
    /// The labels in the order written.
    public var labels: [ExpositionLabel]
    /// The value; may be NaN or ±infinity.
    public var value: Double
    /// Milliseconds since the Unix epoch; OpenMetrics' float seconds are converted.
    public var timestampMilliseconds: Int64?

    /// The value of the label called `name`, nil if the sample has no such label.
    public func label(_ name: String) -> String? {
        labels.first { $0.name == name }?.value
    }
}
