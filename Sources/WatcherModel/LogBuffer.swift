import Synchronization
public import WatcherProto

/// The agent's own log lines on their way into the spool (DESIGN §5: they become log records).
/// Bounded: when nobody drains it, the oldest records go first and are counted.
public final class LogBuffer: Sendable {
    private struct State {
        var records: [ResourceWatcher_V1_LogRecord] = []
        var dropped: UInt64 = 0
        var lastTimestampUnixNs: Int64 = 0
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = 10_000) {
        precondition(capacity > 0, "a log buffer needs room")
        self.capacity = capacity
    }

    /// Buffers `record`, its timestamp moved 1 ns past the previous record's when it is not
    /// later: Loki keeps one of several entries with the same stream, timestamp and line, so two
    /// identical lines logged in the same millisecond would otherwise arrive once.
    public func append(_ record: ResourceWatcher_V1_LogRecord) {
        var record = record
        state.withLock { state in
            if record.timestampUnixNs <= state.lastTimestampUnixNs {
                record.timestampUnixNs = state.lastTimestampUnixNs + 1
            }
            state.lastTimestampUnixNs = record.timestampUnixNs
            if state.records.count >= capacity {
                state.records.removeFirst(state.records.count - capacity + 1)
                state.dropped += 1
            }
            state.records.append(record)
        }
    }

    /// Everything buffered, oldest first, leaving the buffer empty.
    public func drain() -> [ResourceWatcher_V1_LogRecord] {
        state.withLock { state in
            defer { state.records.removeAll(keepingCapacity: true) }
            return state.records
        }
    }

    /// Records dropped because the buffer was full.
    public var droppedRecords: UInt64 { state.withLock { $0.dropped } }
}
