/// A usage figure a server counter adds to.
enum UsageField: Sendable {
    case requests, tokensInput, tokensOutput, latencySecondsSum, latencyCount
}

/// One cumulative series name of a server and the usage figure it feeds; all its label sets are summed.
struct UsageCounterSource: Sendable {
    /// The series name as exposed, suffix included.
    let seriesName: String
    let field: UsageField
}

/// An LLM server's metric namespace and the counters that make up model usage.
///
/// The names were checked against each server's source:
/// - vLLM (`vllm/v1/metrics/loggers.py`, `PrometheusStatLogger`; v0's `vllm/engine/metrics.py` uses the same
///   names): counters `vllm:prompt_tokens`, `vllm:generation_tokens` and `vllm:request_success` (label
///   `finished_reason`: stop, length, abort, ...) exposed by prometheus_client with `_total`; histogram
///   `vllm:e2e_request_latency_seconds`. Every series carries `model_name` (the served model name) and, in
///   v1, `engine` (data-parallel index), which is summed over.
/// - llama.cpp (`tools/server`, formerly `examples/server/server.cpp`, now `server-task.cpp`): counters
///   `llamacpp:prompt_tokens_total`, `llamacpp:tokens_predicted_total`, `llamacpp:prompt_seconds_total`,
///   `llamacpp:tokens_predicted_seconds_total` and, in newer builds, `llamacpp:prompt_tokens_cached_total`
///   (prompt tokens reused from the KV cache, which `prompt_tokens_total` excludes; both are counted as input).
///   There is no completed-request counter (`requests_processing` and `requests_deferred` are gauges,
///   `n_decode_total` counts decode calls), so requests are always 0. Latency is the prompt plus generation
///   processing time, which is busy time summed over slots, with no count. Values are printed with C++'s
///   default 6 significant digits, so counts above a million move in steps (e.g. `1.23457e+06`).
/// - TGI (`router/src/server.rs`, metrics-exporter-prometheus, which adds no `_total`): counter
///   `tgi_request_success` (incremented when a request succeeds, unlike `tgi_request_count`, which counts every
///   request at its start, failed ones and `/chat_tokenize` included), histograms `tgi_request_input_length`,
///   `tgi_request_generated_tokens` and `tgi_request_duration` (recorded for successful requests). Series
///   appear only once first incremented.
struct LLMServerKind: Sendable {
    /// The `provider` of the deltas, e.g. `vllm`.
    let provider: String
    /// The prefix every metric of this server has; its presence in a scrape recognises the server.
    let metricPrefix: String
    /// The label naming the model, or nil when the server serves one model and names it nowhere.
    let modelLabel: String?
    let sources: [UsageCounterSource]

    static let vllm = LLMServerKind(
        provider: "vllm",
        metricPrefix: "vllm:",
        modelLabel: "model_name",
        sources: [
            UsageCounterSource(seriesName: "vllm:request_success_total", field: .requests),
            UsageCounterSource(seriesName: "vllm:prompt_tokens_total", field: .tokensInput),
            UsageCounterSource(seriesName: "vllm:generation_tokens_total", field: .tokensOutput),
            UsageCounterSource(seriesName: "vllm:e2e_request_latency_seconds_sum", field: .latencySecondsSum),
            UsageCounterSource(seriesName: "vllm:e2e_request_latency_seconds_count", field: .latencyCount),
        ]
    )

    static let llamaCpp = LLMServerKind(
        provider: "llamacpp",
        metricPrefix: "llamacpp:",
        modelLabel: nil,
        sources: [
            UsageCounterSource(seriesName: "llamacpp:prompt_tokens_total", field: .tokensInput),
            UsageCounterSource(seriesName: "llamacpp:prompt_tokens_cached_total", field: .tokensInput),
            UsageCounterSource(seriesName: "llamacpp:tokens_predicted_total", field: .tokensOutput),
            UsageCounterSource(seriesName: "llamacpp:prompt_seconds_total", field: .latencySecondsSum),
            UsageCounterSource(seriesName: "llamacpp:tokens_predicted_seconds_total", field: .latencySecondsSum),
        ]
    )

    static let textGenerationInference = LLMServerKind(
        provider: "tgi",
        metricPrefix: "tgi_",
        modelLabel: nil,
        sources: [
            UsageCounterSource(seriesName: "tgi_request_success", field: .requests),
            UsageCounterSource(seriesName: "tgi_request_input_length_sum", field: .tokensInput),
            UsageCounterSource(seriesName: "tgi_request_generated_tokens_sum", field: .tokensOutput),
            UsageCounterSource(seriesName: "tgi_request_duration_sum", field: .latencySecondsSum),
            UsageCounterSource(seriesName: "tgi_request_duration_count", field: .latencyCount),
        ]
    )

    /// Every server kind, in the order `recognised` lists them.
    static let all: [LLMServerKind] = [.vllm, .llamaCpp, .textGenerationInference]

    /// Whether the document has any family in this server's namespace.
    func isPresent(in document: ExpositionDocument) -> Bool {
        document.families.contains { $0.name.hasPrefix(metricPrefix) }
    }
}
