import Synchronization

/// What the sampler reports about its own ticks, for `/health`, `/metrics` and `status`.
public final class TickStatistics: Sendable {
    private struct State {
        var ticks: UInt64 = 0
        var lastDurationSeconds: Double = 0
        var durationSecondsSum: Double = 0
        var lastTickUnixMilliseconds: Int64?
        var logFilesRefused = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Records one finished tick, and how many log paths the tailer refuses to read after it.
    public func record(durationSeconds: Double, atUnixMilliseconds time: Int64, logFilesRefused: Int = 0) {
        state.withLock { state in
            state.logFilesRefused = logFilesRefused
            state.ticks += 1
            state.lastDurationSeconds = durationSeconds
            state.durationSecondsSum += durationSeconds
            state.lastTickUnixMilliseconds = time
        }
    }

    /// Ticks so far, the last one's duration, the sum of all durations, and when the last ended.
    public func snapshot() -> (
        ticks: UInt64, lastDurationSeconds: Double, durationSecondsSum: Double,
        lastTickUnixMilliseconds: Int64?
    ) {
        state.withLock { ($0.ticks, $0.lastDurationSeconds, $0.durationSecondsSum, $0.lastTickUnixMilliseconds) }
    }

    /// Log paths the tailer refused to read at the last tick (a symlink or hard link to another
    /// owner's file, a FIFO, ...).
    public var logFilesRefused: Int { state.withLock { $0.logFilesRefused } }
}
