import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Appending: one frame per record, segments started and synced per the fsync policy.
extension Spool {
    // MARK: - Appending

    /// Appends one record and returns its sequence number. Under the `batch` policy the record
    /// is on disk when this returns.
    ///
    /// On failure (disk full, I/O error) nothing of the record remains in the spool, the drop is
    /// counted and logged (rate-limited), and the error is thrown; the next append tries again.
    @discardableResult
    public func append(kind: RecordKind, payload: [UInt8]) throws(SpoolError) -> UInt64 {
        try state.withLock { (state) throws(SpoolError) -> UInt64 in
            guard !state.closed else { throw SpoolError(.closed, "the spool is closed", path: directory) }
            let sequence = state.nextSequence
            let encoder = state.encoder
            var frame: [UInt8] = []
            swap(&frame, &state.frameBuffer)  // reuse the buffer's capacity without a copy
            let encoded = payload.withUnsafeBytes { bytes in
                Result { () throws(SpoolError) in
                    try encoder.encode(sequence: sequence, kind: kind.rawValue, payload: bytes, into: &frame)
                }
            }
            swap(&frame, &state.frameBuffer)
            try encoded.get()
            do throws(SpoolError) {
                try write(frameOf: sequence, state: &state)
            } catch {
                countDrop(error, state: &state)
                publishStatistics(state)
                throw error
            }
            state.nextSequence = sequence + 1
            state.appendedRecords += 1
            let record = SpoolRecord(sequence: sequence, kind: kind, payload: payload)
            state.head[kind] = record
            published.withLock { published in
                published.head[kind] = record
                published.lastSequence = sequence
            }
            enforceCaps(state: &state)
            publishStatistics(state)
            return sequence
        }
    }

    func write(frameOf sequence: UInt64, state: inout State) throws(SpoolError) {
        if state.activeDescriptor < 0 || state.segments.last!.sizeBytes >= options.segmentSizeBytes {
            try startSegment(firstSequence: sequence, state: &state)
        }
        let index = state.segments.count - 1
        let segment = state.segments[index]
        do throws(SpoolError) {
            let descriptor = state.activeDescriptor
            try state.frameBuffer.withUnsafeBytes { bytes in
                Result { () throws(SpoolError) in
                    try FileIO.write(descriptor, path: segment.path, bytes: bytes, offset: segment.sizeBytes)
                }
            }.get()
            try syncIfDue(path: segment.path, state: &state)
            if state.directoryUnsynced {
                try syncDirectory()
                state.directoryUnsynced = false
            }
        } catch {
            // Cut the partial frame off so the segment never holds half a record.
            if (try? FileIO.truncate(state.activeDescriptor, path: segment.path, to: segment.sizeBytes)) == nil {
                // The segment is in an unknown state: stop appending to it; open() will repair it.
                Glibc.close(state.activeDescriptor)
                state.activeDescriptor = -1
            }
            throw error
        }
        state.segments[index].sizeBytes += state.frameBuffer.count
        state.segments[index].lastWriteUnixSeconds = Int(time(nil))
    }

    func startSegment(firstSequence: UInt64, state: inout State) throws(SpoolError) {
        if state.activeDescriptor >= 0, let last = state.segments.last {
            if state.unsyncedAppends && options.fsync != .never {
                try? FileIO.syncData(state.activeDescriptor, path: last.path)
            }
            Glibc.close(state.activeDescriptor)
            state.activeDescriptor = -1
            state.unsyncedAppends = false
        }
        if let last = state.segments.last, last.sizeBytes < options.segmentSizeBytes {
            // Continue the last segment (after open, or after a failed write closed it).
            let descriptor = try FileIO.open(last.path, flags: O_WRONLY)
            let size = try FileIO.size(of: descriptor, path: last.path)
            if size != last.sizeBytes {
                try? FileIO.truncate(descriptor, path: last.path, to: last.sizeBytes)
            }
            state.activeDescriptor = descriptor
            return
        }
        let path = directory + "/" + FrameLayout.segmentFileName(firstSequence: firstSequence)
        let descriptor = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        state.segments.append(
            Segment(
                firstSequence: firstSequence,
                path: path,
                sizeBytes: 0,
                lastWriteUnixSeconds: Int(time(nil))
            )
        )
        state.activeDescriptor = descriptor
        if options.fsync != .never {
            do { try syncDirectory() } catch {
                // `batch` promises a returned append is on disk, and a segment whose name is not
                // is not: fail this append, and make the next one sync the directory first.
                guard options.fsync == .batch else {
                    logger.warning("spool directory fsync failed", metadata: ["spool.error": "\(error)"])
                    return
                }
                state.directoryUnsynced = true
                throw error
            }
        }
        logger.debug("spool segment started", metadata: ["spool.segment": "\(path)"])
    }

    /// fsync of the spool directory (a new segment's name), or the test seam's failure.
    func syncDirectory() throws(SpoolError) {
        if options.directorySyncFailsForTesting {
            throw SpoolError.system("fsync", path: directory, errno: EIO)
        }
        try FileIO.syncDirectory(directory)
    }

    func syncIfDue(path: String, state: inout State) throws(SpoolError) {
        if let delay = options.syncDelayForTesting, options.fsync != .never {
            var pause = timespec(
                tv_sec: Int(delay.components.seconds),
                tv_nsec: Int(delay.components.attoseconds / 1_000_000_000)
            )
            nanosleep(&pause, nil)
        }
        switch options.fsync {
        case .batch:
            try FileIO.syncData(state.activeDescriptor, path: path)
        case .interval:
            state.unsyncedAppends = true
            let now = ContinuousClock.now
            if now - state.lastSync >= options.fsyncInterval {
                try FileIO.syncData(state.activeDescriptor, path: path)
                state.lastSync = now
                state.unsyncedAppends = false
            }
        case .never:
            state.unsyncedAppends = true
        }
    }

    func countDrop(_ error: SpoolError, state: inout State) {
        state.droppedAppends[error.code.rawValue, default: 0] += 1
        state.dropsSinceLastLog += 1
        let now = ContinuousClock.now
        if let last = state.lastDropLog, now - last < .seconds(10) { return }
        logger.error(
            "spool append failed; the record was dropped",
            metadata: [
                "spool.error": "\(error)", "spool.dropped_since_last_log": "\(state.dropsSinceLastLog)",
                "spool.dropped_total": "\(state.droppedAppends.values.reduce(0, +))",
            ]
        )
        state.lastDropLog = now
        state.dropsSinceLastLog = 0
    }
}
