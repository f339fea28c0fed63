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
            total -= state.segments[0].sizeBytes
            dropOldestSegment(reason: "max_bytes", state: &state)
        }
        // Age is checked on the first append and then at most every 10 s: it needs the clock only.
        guard let maxAge = options.maxAge else { return }
        if let last = state.lastAgeCheck, ContinuousClock.now - last < .seconds(10) { return }
        state.lastAgeCheck = ContinuousClock.now
        let oldestAllowed = Int(time(nil)) - Int(maxAge.components.seconds)
        while state.segments.count > 1, state.segments[0].lastWriteUnixSeconds < oldestAllowed {
            dropOldestSegment(reason: "max_age", state: &state)
        }
    }

    /// Deletes the oldest segment for a cap; consumers that had not passed it lose its records.
    func dropOldestSegment(reason: String, state: inout State) {
        let segment = state.segments.removeFirst()
        let lastSequence = state.segments[0].firstSequence - 1
        var behind: Logger.Metadata = [:]
        for (name, cursor) in state.cursors where cursor < lastSequence {
            behind[name] = "\(lastSequence - max(cursor, segment.firstSequence - 1))"
        }
        if !behind.isEmpty { state.segmentsDroppedByCap += 1 }
        do { try FileIO.remove(segment.path) } catch {
            logger.error("spool segment could not be deleted", metadata: ["spool.error": "\(error)"])
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
            let segment = state.segments.removeFirst()
            do { try FileIO.remove(segment.path) } catch {
                logger.error("spool segment could not be deleted", metadata: ["spool.error": "\(error)"])
                return
            }
            logger.debug(
                "spool segment deleted after every consumer passed it",
                metadata: ["spool.segment": "\(segment.path)"]
            )
        }
    }
}
