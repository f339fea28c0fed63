/// Something wrong with one line of an exposition; the line was skipped.
public struct ExpositionProblem: Sendable, Equatable, CustomStringConvertible {
    /// The 1-based line number.
    public var line: Int
    /// What is wrong, e.g. `unterminated label value` or `invalid value "abc"`.
    public var message: String

    /// `line N: message`.
    public var description: String { "line \(line): \(message)" }
}

/// A parsed scrape: its families in the order first seen, and the problems of the lines that were skipped.
public struct ExpositionDocument: Sendable {
    /// The families in the order first declared or sampled.
    public var families: [ExpositionFamily]
    /// One entry per skipped line (at most `ExpositionDocumentBuilder.maximumProblems` plus a summary).
    public var problems: [ExpositionProblem]
    /// Why parsing stopped before the end of the body, nil when it read it all.
    public var cut: Cut?

    /// A bound that stopped a parse.
    public enum Cut: Sendable, Equatable {
        /// `maximumSamples` samples were kept.
        case samples
        /// The deadline passed.
        case time
    }

    /// Every sample whose series name is exactly `named` (suffix included), in document order.
    public func samples(named: String) -> [ExpositionSample] {
        var found: [ExpositionSample] = []
        // A sample's name always starts with its family's name (bare name or name plus suffix).
        for family in families where named.hasPrefix(family.name) {
            for sample in family.samples where sample.name == named {
                found.append(sample)
            }
        }
        return found
    }
}
