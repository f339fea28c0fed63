/// Backoff and timeouts of every sink (`retry`): exponential backoff with full jitter between
/// `minBackoffMs` and `maxBackoffMs`.
public struct RetryConfig: Sendable, Equatable {
    /// First backoff, in milliseconds (`min_backoff_ms`).
    public var minBackoffMs: Int
    /// Cap of the backoff, in milliseconds (`max_backoff_ms`); at least `minBackoffMs`.
    public var maxBackoffMs: Int
    /// Total time one request may take, in seconds (`request_timeout_seconds`).
    public var requestTimeoutSeconds: Double

    /// 100 ms, 30 s, 30 s.
    public init(minBackoffMs: Int = 100, maxBackoffMs: Int = 30_000, requestTimeoutSeconds: Double = 30) {
        self.minBackoffMs = minBackoffMs
        self.maxBackoffMs = maxBackoffMs
        self.requestTimeoutSeconds = requestTimeoutSeconds
    }

    /// `minBackoffMs` as a duration.
    public var minBackoff: Duration { .milliseconds(minBackoffMs) }
    /// `maxBackoffMs` as a duration.
    public var maxBackoff: Duration { .milliseconds(maxBackoffMs) }
    /// `requestTimeoutSeconds` as a duration.
    public var requestTimeout: Duration { .nanoseconds(Int64((requestTimeoutSeconds * 1e9).rounded())) }
}
