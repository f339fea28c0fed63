import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Cursors: each consumer's acknowledged sequence, persisted, and readers after it.
extension Spool {
    // MARK: - Cursors

    /// Records that `consumer` has delivered everything up to and including `sequence`. Its
    /// cursor file is written when the last write is `cursorPersistInterval` old; then segments
    /// every cursor file has passed are deleted (a cursor is durable before any deletion).
    public func acknowledge(
        consumer: String,
        through sequence: UInt64,
        now: ContinuousClock.Instant = .now
    ) throws(SpoolError) {
        let persistDue = state.withLock { state -> Bool? in
            guard let current = state.cursors[consumer] else { return nil }
            guard sequence > current else { return false }
            state.cursors[consumer] = sequence
            state.consumers[
                consumer,
                default: ConsumerStatistics(cursor: 0, lagRecords: 0, lostRecords: 0, corruptRegionsSkipped: 0)
            ].cursor = sequence
            let last = state.nextSequence - 1
            state.consumers[consumer]!.lagRecords = last - min(sequence, last)
            publishStatistics(state)
            return state.cursorPersistedAt[consumer].map { now - $0 >= options.cursorPersistInterval } ?? true
        }
        guard let persistDue else {
            throw SpoolError(.invalidArgument, "unknown consumer \"\(consumer)\"", path: directory)
        }
        if persistDue {
            try persistCursors([consumer], now: now)
        } else {
            // A deletion that failed before is tried again on every acknowledgement.
            state.withLock { state in
                guard !state.closed else { return }
                deleteAcknowledgedSegments(state: &state)
                publishStatistics(state)
            }
        }
    }

    /// Writes the cursor files of `consumers` (nil: every consumer) that are behind their
    /// cursors, then deletes the segments every cursor file has passed. `close()` calls it.
    public func persistCursors(_ consumers: [String]? = nil, now: ContinuousClock.Instant = .now) throws(SpoolError) {
        let behind = state.withLock { state in
            (consumers ?? Array(state.cursors.keys)).compactMap { name -> (String, UInt64)? in
                guard let cursor = state.cursors[name], cursor > state.persistedCursors[name] ?? 0 else { return nil }
                return (name, cursor)
            }
        }
        for (name, cursor) in behind {
            try persistCursor(name, cursor)
            state.withLock { state in
                state.persistedCursors[name] = max(state.persistedCursors[name] ?? 0, cursor)
                state.cursorPersistedAt[name] = now
            }
        }
        state.withLock { state in
            guard !state.closed else { return }
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
