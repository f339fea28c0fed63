import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The head (latest record of each kind) and statistics, published apart from appends.
extension Spool {
    // MARK: - Head and statistics

    /// The newest record of `kind`, kept in memory (restored from the tail on open).
    /// Never waits for an append in progress (its fsync): it reads the published head.
    public func latest(_ kind: RecordKind) -> SpoolRecord? { published.withLock { $0.head[kind] } }

    /// The sequence number of the newest record; like `latest`, it never waits for an append.
    public var lastSequence: UInt64 { published.withLock { $0.lastSequence } }

    public func statistics() -> SpoolStatistics {
        state.withLock { state in
            state.loadSegmentMetadata()
            let last = state.nextSequence - 1
            var consumers = state.consumers
            for (name, cursor) in state.cursors {
                consumers[name]?.cursor = cursor
                consumers[name]?.lagRecords = last - min(cursor, last)
            }
            return SpoolStatistics(
                totalBytes: state.totalBytes,
                segmentCount: state.segments.count,
                lastSequence: last,
                appendedRecords: state.appendedRecords,
                droppedAppends: state.droppedAppends,
                segmentsDroppedByCap: state.segmentsDroppedByCap,
                consumers: consumers
            )
        }
    }
}
