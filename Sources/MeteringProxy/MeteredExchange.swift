import Logging
import ModelUsage
import WatcherModel
import WatcherProto

/// One proxied request's bookkeeping: turns what the scanner read into a usage event when the
/// exchange ends, however it ends.
struct MeteredExchange: Sendable {
    let component: String
    let clientID: String
    let provider: String
    let started: ContinuousClock.Instant
    let recorder: UsageRecorder
    let metrics: ProxyMetrics
    let logger: Logger

    /// Records the exchange. `usage` is nil when the request was not a model call; `failure`
    /// names why the stream ended early, if it did.
    func finish(
        usage: ResponseUsageScanner.Usage?,
        framing: ResponseUsageScanner.Framing,
        firstByte: Duration?,
        failure: String?
    ) {
        defer { metrics.ended() }
        if let failure { metrics.failed(failure) }
        guard let usage else { return }
        if usage.malformedLines > 0 { metrics.failed("malformed_response") }
        let latency = ContinuousClock.now - started
        var event = ResourceWatcher_V1_ModelUsage()
        event.clientID = clientID
        event.provider = provider
        event.name = usage.model ?? "unknown"
        event.requestsCount = 1
        if usage.sawEnd, let input = usage.tokensInput, let output = usage.tokensOutput {
            event.tokensInput = input
            event.tokensOutput = output
        } else {
            event.requestsTokensUnknown = 1
        }
        ModelLatencyBuckets.observe(microseconds: Self.microseconds(latency), on: &event)
        if framing == .lines, let firstByte {
            event.firstByteMicrosecondsSum = Self.microseconds(firstByte)
            event.firstByteCount = 1
        }
        if let nanoseconds = usage.inferenceNanoseconds {
            event.inferenceMicrosecondsSum = nanoseconds / 1000
            event.inferenceCount = 1
        }
        event.lastUsedUnixMs = RFC3339.nowUnixMilliseconds()
        metrics.metered()
        recorder.submit(recorder.bounded([event], component: metrics.component))
    }

    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds / 1_000_000_000_000))
    }
}
