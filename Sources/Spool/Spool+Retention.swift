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

    /// Deletes closed segments that every consumer has acknowledged.
    ///
    /// The segment holding the newest sample record is kept whatever the cursors say: a restart
    /// rebuilds the head (and the usage totals, and the active alerts) from it.
    func deleteAcknowledgedSegments(state: inout State) {
        guard let minimumCursor = state.cursors.values.min() else { return }
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
