/// Every problem found in a configuration at once, so one edit fixes them all; the agent prints
/// it and exits with code 2 (DESIGN §9).
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// The problems in the order they were found, each under the file path, variable or flag
    /// that gave the bad value.
    public let problems: [ConfigProblem]

    /// An error listing `problems`; there is at least one.
    public init(problems: [ConfigProblem]) {
        precondition(!problems.isEmpty, "a ConfigError needs at least one problem")
        self.problems = problems
    }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
