/// The type a `# TYPE` line declares; the first five are Prometheus 0.0.4's, all but `untyped` OpenMetrics'.
public enum ExpositionType: String, Sendable {
    case counter, gauge, histogram, summary, untyped, unknown, info, stateset, gaugehistogram

    /// The sample-name suffixes a family of this type owns besides its bare name, e.g. `_bucket`.
    var ownedSuffixes: [String] {
        switch self {
        case .counter: ["_total", "_created"]
        case .histogram: ["_bucket", "_sum", "_count", "_created"]
        case .gaugehistogram: ["_bucket", "_gsum", "_gcount"]
        case .summary: ["_sum", "_count", "_created"]
        case .info: ["_info"]
        case .gauge, .untyped, .unknown, .stateset: []
        }
    }

    /// Every suffix some type owns, longest first so `_created` is tried before shorter ones.
    static let allOwnedSuffixes = ["_created", "_bucket", "_gcount", "_count", "_total", "_info", "_gsum", "_sum"]

    /// The type named on a `# TYPE` line, or nil when the format does not have it.
    ///
    /// Prometheus 0.0.4 (like its reference parser) matches case-insensitively; OpenMetrics is lowercase only.
    static func declared(_ word: String, openMetrics: Bool) -> ExpositionType? {
        if openMetrics {
            guard let type = ExpositionType(rawValue: word), type != .untyped else { return nil }
            return type
        }
        switch word.lowercased() {
        case "counter": return .counter
        case "gauge": return .gauge
        case "histogram": return .histogram
        case "summary": return .summary
        case "untyped": return .untyped
        default: return nil
        }
    }
}

/// A metric family: the samples under one `# TYPE`/`# HELP` name, or one undeclared series name.
public struct ExpositionFamily: Sendable, Equatable {
    /// The family name as declared, e.g. `vllm:e2e_request_latency_seconds` (owning its `_bucket` samples).
    public var name: String
    /// The declared type; `untyped` when no `# TYPE` line came before the samples.
    public var type: ExpositionType
    /// The `# HELP` text with escapes resolved.
    public var help: String?
    /// The OpenMetrics `# UNIT`.
    public var unit: String?
    /// The samples in the order written.
    public var samples: [ExpositionSample]

    /// Whether a sample called `sampleName` belongs here: the bare name or the name plus an owned suffix.
    func owns(sampleNamed sampleName: String) -> Bool {
        if sampleName == name { return true }
        let nameLength = name.utf8.count
        let sampleLength = sampleName.utf8.count
        guard sampleLength > nameLength, sampleName.hasPrefix(name) else { return false }
        return type.ownedSuffixes.contains { suffix in
            suffix.utf8.count == sampleLength - nameLength && sampleName.hasSuffix(suffix)
        }
    }
}
