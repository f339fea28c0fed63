import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Cursors: each consumer's acknowledged sequence, persisted, and readers after it.
extension Spool {
    // MARK: - Cursors

    /// Records that `consumer` has delivered everything up to and including `sequence`, then
    /// deletes segments every consumer has passed. The cursor is durable before any deletion.
    public func acknowledge(consumer: String, through sequence: UInt64) throws(SpoolError) {
        let current = state.withLock { $0.cursors[consumer] }
        guard let current else {
            throw SpoolError(.invalidArgument, "unknown consumer \"\(consumer)\"", path: directory)
        }
        guard sequence > current else { return }
        try persistCursor(consumer, sequence)
        state.withLock { state in
            state.cursors[consumer] = max(state.cursors[consumer] ?? 0, sequence)
            let cursor = state.cursors[consumer]!
            let last = state.nextSequence - 1
            state.consumers[
                consumer,
                default: ConsumerStatistics(
                    cursor: 0,
                    lagRecords: 0,
                    lostRecords: 0,
                    corruptRegionsSkipped: 0
                )
            ].cursor = cursor
            state.consumers[consumer]!.lagRecords = last - min(cursor, last)
            deleteAcknowledgedSegments(state: &state)
            publishStatistics(state)
        }
    }

    /// The last acknowledged sequence of `consumer`, or nil for an unknown consumer.
    public func cursor(of consumer: String) -> UInt64? { state.withLock { $0.cursors[consumer] } }

    func persistCursor(_ consumer: String, _ sequence: UInt64) throws(SpoolError) {
        try cursorWrites.withLock { (_) throws(SpoolError) in
            try FileIO.replaceAtomically(
                CursorFile.path(for: consumer, in: cursorDirectory),
                in: cursorDirectory,
                with: CursorFile.encode(sequence)
            )
        }
    }

    /// A reader for `consumer`, starting after its acknowledged cursor.
    public func reader(for consumer: String) throws(SpoolError) -> SpoolReader {
        guard let cursor = cursor(of: consumer) else {
            throw SpoolError(.invalidArgument, "unknown consumer \"\(consumer)\"", path: directory)
        }
        return SpoolReader(spool: self, consumer: consumer, after: cursor)
    }

    /// A reader without a cursor that starts after `sequence`, for replaying recent records at
    /// start (usage events newer than the last sample batch). Nothing it reads is acknowledged.
    public func reader(after sequence: UInt64) -> SpoolReader {
        SpoolReader(spool: self, consumer: "", after: sequence)
    }
}
