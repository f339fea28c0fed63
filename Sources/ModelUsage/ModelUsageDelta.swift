/// What one model did on one LLM server between two scrapes of the server's `/metrics`.
public struct ModelUsageDelta: Sendable, Equatable {
    /// The served model: vLLM's `model_name` label, or the configured default for servers without one.
    public var model: String
    /// The server kind: `vllm`, `llamacpp` or `tgi`.
    public var provider: String
    /// Requests completed in the interval (always 0 for llama.cpp, which exposes no request counter).
    public var requests: UInt64
    /// Prompt tokens processed in the interval.
    public var tokensInput: UInt64
    /// Tokens generated in the interval.
    public var tokensOutput: UInt64
    /// Seconds of latency accumulated in the interval; see `LLMServerKind` for what each server sums.
    public var latencySecondsSum: Double
    /// Requests `latencySecondsSum` covers; 0 when the server only exposes a total time (llama.cpp).
    public var latencyCount: UInt64
}
