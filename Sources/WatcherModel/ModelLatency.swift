public import WatcherProto

/// The latency histogram of model requests: the bucket bounds the OpenTelemetry GenAI semantic
/// conventions advise for `gen_ai.client.operation.duration`, in seconds.
public enum ModelLatencyBuckets {
    /// Upper bounds in seconds; one more bucket (+Inf) follows the last.
    public static let upperBoundsSeconds: [Double] = [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
    ]

    /// Records one exactly measured request latency on `usage`: the average's sum and count and
    /// the histogram (non-cumulative counts, `upperBoundsSeconds.count + 1` of them).
    public static func observe(microseconds: UInt64, on usage: inout ResourceWatcher_V1_ModelUsage) {
        usage.latencyMicrosecondsSum &+= microseconds
        usage.latencyCount &+= 1
        if usage.latencyBucketCounts.count != upperBoundsSeconds.count + 1 {
            usage.latencyBucketCounts = Array(repeating: 0, count: upperBoundsSeconds.count + 1)
        }
        let seconds = Double(microseconds) / 1_000_000
        let index = upperBoundsSeconds.firstIndex { seconds <= $0 } ?? upperBoundsSeconds.count
        usage.latencyBucketCounts[index] &+= 1
        usage.histogramSumMicroseconds &+= microseconds
    }
}
