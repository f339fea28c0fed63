import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Retention: the caps (`max_bytes`, `max_age`) and deleting what every consumer acknowledged.
extension Spool {
    // MARK: - Retention

    func enforceCaps(state: inout State) {
        state.loadSegmentMetadata()
        var total = state.totalBytes
        while total > options.maxBytes, state.segments.count > 1 {
            let size = state.segments[0].sizeBytes
            guard dropOldestSegment(reason: "max_bytes", state: &state) else { return }
            total -= size
        }
        // Age is checked on the first append and then at most every 10 s: it needs the clock only.
        guard let maxAge = options.maxAge else { return }
        if let last = state.lastAgeCheck, ContinuousClock.now - last < .seconds(10) { return }
        state.lastAgeCheck = ContinuousClock.now
        let oldestAllowed = Int(time(nil)) - Int(maxAge.components.seconds)
        while state.segments.count > 1, state.segments[0].lastWriteUnixSeconds < oldestAllowed {
            guard dropOldestSegment(reason: "max_age", state: &state) else { return }
        }
    }

    /// Deletes the oldest segment for a cap; consumers that had not passed it lose its records.
    /// False when the file could not be deleted: it stays listed (its bytes still count against
    /// `max_bytes`), and the next append tries again.
    @discardableResult
    func dropOldestSegment(reason: String, state: inout State) -> Bool {
        // What kinds of records it held (frame headers only), for the readers behind it.
        let kinds = Self.kindCounts(ofSegment: state.segments[0].path)
        do { try FileIO.remove(state.segments[0].path) } catch {
            logger.error("spool segment could not be deleted", metadata: ["spool.error": "\(error)"])
            return false
        }
        let segment = state.segments.removeFirst()
        let lastSequence = state.segments[0].firstSequence - 1
        var behind: Logger.Metadata = [:]
        for (name, cursor) in state.cursors where cursor < lastSequence {
            behind[name] = "\(lastSequence - max(cursor, segment.firstSequence - 1))"
        }
        if !behind.isEmpty { state.segmentsDroppedByCap += 1 }
        if let kinds, !behind.isEmpty {
            let minimumCursor = state.cursors.values.min() ?? 0
            state.droppedByCap.removeAll { $0.last <= minimumCursor }
            state.droppedByCap.append(DroppedRange(first: segment.firstSequence, last: lastSequence, kinds: kinds))
        }
        let metadata: Logger.Metadata = [
            "spool.segment": "\(segment.path)", "spool.reason": "\(reason)",
            "spool.consumers_behind": .dictionary(behind),
        ]
        if behind.isEmpty {
            logger.info("spool segment deleted by cap", metadata: metadata)
        } else {
            logger.warning("spool segment deleted by cap before every consumer read it", metadata: metadata)
        }
        return true
    }

    /// How many records of each kind the segment at `path` holds; nil when it cannot be read.
    static func kindCounts(ofSegment path: String) -> [UInt8: UInt64]? {
        guard let bytes = try? FileIO.readWholeFile(path) else { return nil }
        return bytes.withUnsafeBytes { buffer in
            var counts: [UInt8: UInt64] = [:]
            for frame in FrameCodec.scan(buffer).frames { counts[frame.kind, default: 0] += 1 }
            return counts
        }
    }

    /// Records lost between `delivered` and `next` (exclusive) for a reader of `kinds` (nil: all):
    /// the records of those kinds in segments a cap deleted, and every sequence of the gap that
    /// no such deletion explains (a corrupt region, a file removed by hand: kind unknown).
    func lostRecords(after delivered: UInt64, before next: UInt64, kinds: Set<RecordKind>?) -> UInt64 {
        guard next > delivered + 1 else { return 0 }
        let gap = (delivered + 1)...(next - 1)
        return state.withLock { state in
            var explained: UInt64 = 0
            var lost: UInt64 = 0
            for range in state.droppedByCap where gap.contains(range.first) && gap.contains(range.last) {
                explained += range.last - range.first + 1
                for (kind, count) in range.kinds where kinds?.contains(RecordKind(rawValue: kind)) ?? true {
                    lost += count
                }
            }
            return lost + (UInt64(gap.count) - min(explained, UInt64(gap.count)))
        }
    }

    /// Deletes closed segments that every consumer has acknowledged, by its cursor file.
    ///
    /// The segment holding the newest sample record is kept whatever the cursors say: a restart
    /// rebuilds the head (and the usage totals, and the active alerts) from it.
    func deleteAcknowledgedSegments(state: inout State) {
        guard let minimumCursor = state.persistedCursors.values.min() else { return }
        let newestSample = state.head[.sample]?.sequence ?? 0
        while state.segments.count > 1, state.segments[1].firstSequence - 1 <= minimumCursor,
            state.segments[1].firstSequence <= newestSample || newestSample == 0
        {
            // Listed until the file is really gone: a segment left on disk still counts.
            do { try FileIO.remove(state.segments[0].path) } catch {
                logger.error("spool segment could not be deleted", metadata: ["spool.error": "\(error)"])
                return
            }
            let segment = state.segments.removeFirst()
            logger.debug(
                "spool segment deleted after every consumer passed it",
                metadata: ["spool.segment": "\(segment.path)"]
            )
        }
    }
}
