/// Bounds on what the agent keeps of its components' outside sources (`limits`): an LLM server's
/// `/metrics`, Ollama's `/api/ps`. What passes a bound is cut, counted in
/// `resource_watcher_source_limited_total{component,reason}` and logged once per reason.
public struct InputLimitsConfig: Sendable, Equatable {
    /// Bytes of one scrape's answer (`scrape_body_bytes`); a longer body is refused whole.
    public var scrapeBodyBytes: Int
    /// Samples parsed from one scrape (`scrape_samples`); parsing stops there, so a body of
    /// endless series costs a bounded time.
    public var scrapeSamples: Int
    /// `custom_metrics` series kept per component and tick (`custom_metric_series`).
    public var customMetricSeries: Int
    /// Labels kept per `custom_metrics` series (`custom_metric_labels`); more drops the series.
    public var customMetricLabels: Int
    /// Loaded models kept per component from `/api/ps` (`loaded_models`).
    public var loadedModels: Int

    /// 4 MiB, 100,000 samples, 256 series of at most 16 labels, 64 loaded models.
    public init(
        scrapeBodyBytes: Int = 4 << 20,
        scrapeSamples: Int = 100_000,
        customMetricSeries: Int = 256,
        customMetricLabels: Int = 16,
        loadedModels: Int = 64
    ) {
        self.scrapeBodyBytes = scrapeBodyBytes
        self.scrapeSamples = scrapeSamples
        self.customMetricSeries = customMetricSeries
        self.customMetricLabels = customMetricLabels
        self.loadedModels = loadedModels
    }

    /// Bytes of a model name or label value kept (not configurable): longer ones are cut.
    public static let nameBytes = 256
}

extension InputLimitsConfig {
    static func decode(_ reader: inout ObjectReader) -> InputLimitsConfig {
        var limits = InputLimitsConfig()
        limits.scrapeBodyBytes = reader.int(
            "scrape_body_bytes",
            default: limits.scrapeBodyBytes,
            in: 4096...(256 << 20)
        )
        limits.scrapeSamples = reader.int("scrape_samples", default: limits.scrapeSamples, in: 100...10_000_000)
        limits.customMetricSeries = reader.int(
            "custom_metric_series",
            default: limits.customMetricSeries,
            in: 1...100_000
        )
        limits.customMetricLabels = reader.int("custom_metric_labels", default: limits.customMetricLabels, in: 0...64)
        limits.loadedModels = reader.int("loaded_models", default: limits.loadedModels, in: 1...10_000)
        reader.finish()
        return limits
    }
}
