/// Model usage from the cumulative counters of vLLM, llama.cpp and TGI, as deltas between scrapes.
///
/// Rules, per series (a series name plus its label set):
/// - A delta is current minus previous. A value lower than the previous one is a restart: the whole current
///   value counts (it was counted from zero), never a negative or wrapped delta.
/// - The first scrape in which a server kind is recognised is a baseline (delta 0), unless the document's
///   `process_start_time_seconds` is later than the agent's start: then the server's whole history happened
///   while the agent watched, and the current values count.
/// - A series first seen in a later scrape started after the previous scrape, so its whole value counts.
///   That covers a series that disappears and comes back (treated as a restart) and series created lazily
///   on first use (TGI's, vLLM's new label values).
/// - A changed `process_start_time_seconds` means the server restarted: every current value counts.
/// - NaN, infinite or negative values are ignored and the previous baseline kept.
/// - A scrape in which a kind is not recognised leaves that kind's baselines alone, so a failed or foreign
///   body cannot make the next good scrape count a server's whole history.
public struct LLMServerCounters: Sendable {
    private let agentStartUnixSeconds: Double
    private let defaultModel: String
    /// Per provider: the last valid value of every series present in the last scrape of that provider.
    private var baselines: [String: [String: Double]] = [:]
    private var lastProcessStartUnixSeconds: Double?
    private var recognisedProviders: [String] = []

    /// `defaultModel` names the model when the server's metrics carry no model label (llama.cpp and TGI serve
    /// one model and do not name it).
    public init(agentStartUnixSeconds: Double, defaultModel: String) {
        self.agentStartUnixSeconds = agentStartUnixSeconds
        self.defaultModel = defaultModel
    }

    /// The server kind recognised in the last scrape (`vllm`, `llamacpp`, `tgi`; several joined by `+`),
    /// nil if none.
    public var recognised: String? {
        recognisedProviders.isEmpty ? nil : recognisedProviders.joined(separator: "+")
    }

    /// Reads one scrape; returns what happened since the previous scrape, per model, sorted by provider and
    /// model, leaving out models with nothing new. Token and request counts are rounded to whole numbers.
    public mutating func deltas(from document: ExpositionDocument) -> [ModelUsageDelta] {
        let processStart = document.samples(named: "process_start_time_seconds").first.map(\.value)
            .flatMap { $0.isFinite ? $0 : nil }
        let serverRestarted =
            processStart != nil && lastProcessStartUnixSeconds != nil
            && processStart != lastProcessStartUnixSeconds
        let serverStartedAfterAgent = processStart.map { $0 > agentStartUnixSeconds } ?? false
        if let processStart { lastProcessStartUnixSeconds = processStart }

        var usage: [UsageKey: UsageTotals] = [:]
        recognisedProviders = []
        for kind in LLMServerKind.all where kind.isPresent(in: document) {
            recognisedProviders.append(kind.provider)
            let previous = baselines[kind.provider]
            let countsWholeValue = serverRestarted || (previous == nil && serverStartedAfterAgent)
            var current: [String: Double] = [:]
            for source in kind.sources {
                for sample in document.samples(named: source.seriesName) {
                    let series = Self.seriesIdentity(sample)
                    let before = previous?[series]
                    guard sample.value.isFinite, sample.value >= 0 else {
                        current[series] = before ?? Self.presentWithoutValue
                        continue
                    }
                    current[series] = sample.value
                    let delta = Self.delta(
                        from: before,
                        to: sample.value,
                        isFirstScrape: previous == nil,
                        countsWholeValue: countsWholeValue
                    )
                    let model = kind.modelLabel.flatMap { sample.label($0) }.flatMap { $0.isEmpty ? nil : $0 }
                    usage[UsageKey(provider: kind.provider, model: model ?? defaultModel), default: UsageTotals()]
                        .add(delta, to: source.field)
                }
            }
            baselines[kind.provider] = current
        }
        return usage.sorted { ($0.key.provider, $0.key.model) < ($1.key.provider, $1.key.model) }
            .compactMap { key, totals in totals.delta(model: key.model, provider: key.provider) }
    }

    /// The baseline of a series that was present but had no valid value yet: its next valid value is a baseline.
    private static let presentWithoutValue = -1.0

    /// What one series adds: `before` is its baseline, nil when it was absent from the last scrape.
    private static func delta(
        from before: Double?,
        to value: Double,
        isFirstScrape: Bool,
        countsWholeValue: Bool
    ) -> Double {
        if countsWholeValue { return value }
        guard let before else {
            // New since the last scrape, so counted from zero; on the first scrape, the baseline.
            return isFirstScrape ? 0 : value
        }
        if before == presentWithoutValue { return 0 }
        return value >= before ? value - before : value  // lower: restarted, counted from zero
    }

    /// The series name and its labels sorted by name: the same series whatever order the labels came in.
    private static func seriesIdentity(_ sample: ExpositionSample) -> String {
        var identity = sample.name
        for label in sample.labels.sorted(by: { $0.name < $1.name }) {
            identity += "\u{0}\(label.name)\u{0}\(label.value)"
        }
        return identity
    }
}

/// One row of the result: a model on a server kind.
private struct UsageKey: Hashable {
    let provider: String
    let model: String
}

/// The fractional sums of one model's deltas, rounded only at the end.
private struct UsageTotals {
    var requests = 0.0
    var tokensInput = 0.0
    var tokensOutput = 0.0
    var latencySecondsSum = 0.0
    var latencyCount = 0.0

    mutating func add(_ delta: Double, to field: UsageField) {
        switch field {
        case .requests: requests += delta
        case .tokensInput: tokensInput += delta
        case .tokensOutput: tokensOutput += delta
        case .latencySecondsSum: latencySecondsSum += delta
        case .latencyCount: latencyCount += delta
        }
    }

    /// The rounded delta, or nil when nothing happened.
    func delta(model: String, provider: String) -> ModelUsageDelta? {
        let result = ModelUsageDelta(
            model: model,
            provider: provider,
            requests: Self.wholeNumber(requests),
            tokensInput: Self.wholeNumber(tokensInput),
            tokensOutput: Self.wholeNumber(tokensOutput),
            latencySecondsSum: latencySecondsSum.isFinite ? latencySecondsSum : .greatestFiniteMagnitude,
            latencyCount: Self.wholeNumber(latencyCount)
        )
        let isEmpty =
            result.requests == 0 && result.tokensInput == 0 && result.tokensOutput == 0
            && result.latencyCount == 0 && result.latencySecondsSum == 0
        return isEmpty ? nil : result
    }

    /// Rounds to the nearest whole number, clamped to `UInt64`'s range.
    private static func wholeNumber(_ value: Double) -> UInt64 {
        ExpositionNumber.roundedToUInt64Clamped(value)
    }
}
