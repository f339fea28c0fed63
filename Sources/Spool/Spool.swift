public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A durable, multi-consumer, append-only log of compressed records. See SpoolFormat.swift.
///
/// All methods block on file I/O; call them from a dedicated thread, never from the cooperative pool.
public final class Spool: Sendable {
    public let directory: String
    public let options: SpoolOptions
    /// What opening found and repaired.
    public let recovery: SpoolRecoveryReport

    let logger: Logger
    let cursorDirectory: String
    private let state: Mutex<State>
    /// The head and the last sequence, published after each append under their own lock, so
    /// readers of the head (the status API) never wait for an append's fsync.
    private let published: Mutex<(head: [RecordKind: SpoolRecord], lastSequence: UInt64)>
    /// Serialises cursor file writes without holding up appends.
    private let cursorWrites = Mutex<Void>(())
    private let lockDescriptor: Int32

    struct Segment {
        let firstSequence: UInt64
        let path: String
        var sizeBytes: Int
        var lastWriteUnixSeconds: Int
        /// False for closed segments found at open, until `loadSegmentMetadata` stats them: open
        /// reads no metadata but the last segment's, so its cost does not grow with the spool.
        var metadataKnown = true
    }

    struct State {
        var segments: [Segment]
        /// Descriptor of the last segment, open for writing; -1 until the first append.
        var activeDescriptor: Int32 = -1
        var nextSequence: UInt64
        var encoder: FrameEncoder
        var frameBuffer: [UInt8] = []
        var head: [RecordKind: SpoolRecord]
        var cursors: [String: UInt64]
        var consumers: [String: ConsumerStatistics]
        var appendedRecords: UInt64 = 0
        var droppedAppends: [String: UInt64] = [:]
        var segmentsDroppedByCap: UInt64 = 0
        var lastSync = ContinuousClock.now
        var unsyncedAppends = false
        var lastAgeCheck: ContinuousClock.Instant?
        var lastDropLog: ContinuousClock.Instant?
        var dropsSinceLastLog = 0
        var closed = false
        var totalBytes: Int { segments.reduce(0) { $0 + $1.sizeBytes } }

        /// Stats the closed segments whose size and age are not known yet (a file already gone
        /// counts as empty).
        mutating func loadSegmentMetadata() {
            for index in segments.indices where !segments[index].metadataKnown {
                var info = stat()
                if stat(segments[index].path, &info) == 0 {
                    segments[index].sizeBytes = Int(info.st_size)
                    segments[index].lastWriteUnixSeconds = Int(info.st_mtim.tv_sec)
                } else {
                    segments[index].lastWriteUnixSeconds = Int(time(nil))
                }
                segments[index].metadataKnown = true
            }
        }
    }

    /// Opens (creating if needed) the spool in `directory`, repairing a torn tail.
    ///
    /// - Parameter consumers: the names of every consumer (sink) that will read. A consumer
    ///   without a cursor file starts at the oldest record. Retention waits for all of them.
    public init(directory: String, options: SpoolOptions = SpoolOptions(), consumers: [String] = [], logger: Logger)
        throws(SpoolError)
    {
        precondition(options.segmentSizeBytes > 0 && options.maxBytes > 0, "spool sizes must be positive")
        self.directory = directory
        self.options = options
        self.logger = logger
        self.cursorDirectory = directory + "/cursors"
        try FileIO.makeDirectory(cursorDirectory)
        let lockPath = directory + "/LOCK"
        let lockDescriptor = try FileIO.open(lockPath, flags: O_RDWR | O_CREAT)
        // Wait briefly for the lock: a previous owner that is exiting, or a child process that
        // has not yet exec'd since it was forked, may still hold it for a moment.
        let lockDeadline = ContinuousClock.now + .seconds(2)
        while flock(lockDescriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < lockDeadline else {
                Glibc.close(lockDescriptor)
                throw SpoolError(.locked, "another process has this spool open", path: lockPath)
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        self.lockDescriptor = lockDescriptor
        var initialCursors: [(String, UInt64)] = []
        do throws(SpoolError) {
            let opened = try SpoolOpener(directory: directory, cursorDirectory: cursorDirectory, consumers: consumers).open()
            self.recovery = opened.report
            initialCursors = opened.newCursors
            var consumerStatistics: [String: ConsumerStatistics] = [:]
            for (name, cursor) in opened.cursors {
                consumerStatistics[name] = ConsumerStatistics(
                    cursor: cursor, lagRecords: opened.nextSequence - 1 - min(cursor, opened.nextSequence - 1),
                    lostRecords: 0, corruptRegionsSkipped: 0)
            }
            self.state = Mutex(
                State(
                    segments: opened.segments, nextSequence: opened.nextSequence,
                    encoder: FrameEncoder(compressionLevel: options.compressionLevel), head: opened.head,
                    cursors: opened.cursors, consumers: consumerStatistics))
            self.published = Mutex((opened.head, opened.nextSequence - 1))
        } catch {
            Glibc.close(lockDescriptor)
            throw error
        }
        // From here on, a failure closes the lock through deinit -> close().
        for (name, cursor) in initialCursors { try persistCursor(name, cursor) }
        logOpen()
    }

    deinit { close() }

    private func logOpen() {
        var metadata: Logger.Metadata = ["spool.dir": "\(directory)", "spool.segments": "\(recovery.segmentCount)"]
        if let segment = recovery.truncatedSegment {
            metadata["spool.segment"] = "\(segment)"
            metadata["spool.truncated_bytes"] = "\(recovery.truncatedBytes)"
            logger.warning("spool tail was torn; cut back to the last valid frame", metadata: metadata)
        }
        for region in recovery.corruptRegions {
            logger.error(
                "spool segment has a corrupt region; readers will skip it",
                metadata: ["spool.segment": "\(region.segment)", "spool.offset": "\(region.offset)",
                           "spool.length": "\(region.length)"])
        }
        for name in recovery.cursorsAheadOfData {
            logger.warning("spool cursor is past the last record; new records continue after it",
                           metadata: ["spool.consumer": "\(name)"])
        }
        for name in recovery.unreadableCursors {
            logger.error("spool cursor file is unreadable; consumer restarts from the oldest record",
                         metadata: ["spool.consumer": "\(name)"])
        }
        logger.debug("spool opened", metadata: metadata)
    }

    /// Flushes and closes the active segment and releases the directory lock.
    /// Appends after this fail with `.closed`.
    public func close() {
        state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            defer { Glibc.close(lockDescriptor) }
            if state.activeDescriptor >= 0 {
                if state.unsyncedAppends, let path = state.segments.last?.path {
                    try? FileIO.syncData(state.activeDescriptor, path: path)
                }
                Glibc.close(state.activeDescriptor)
                state.activeDescriptor = -1
            }
        }
    }

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
            return sequence
        }
    }

    private func write(frameOf sequence: UInt64, state: inout State) throws(SpoolError) {
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

    private func startSegment(firstSequence: UInt64, state: inout State) throws(SpoolError) {
        if state.activeDescriptor >= 0, let last = state.segments.last {
            if state.unsyncedAppends && options.fsync != .never { try? FileIO.syncData(state.activeDescriptor, path: last.path) }
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
        state.segments.append(Segment(firstSequence: firstSequence, path: path, sizeBytes: 0,
                                      lastWriteUnixSeconds: Int(time(nil))))
        state.activeDescriptor = descriptor
        if options.fsync != .never {
            do { try FileIO.syncDirectory(directory) } catch {
                logger.warning("spool directory fsync failed", metadata: ["spool.error": "\(error)"])
            }
        }
        logger.debug("spool segment started", metadata: ["spool.segment": "\(path)"])
    }

    private func syncIfDue(path: String, state: inout State) throws(SpoolError) {
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

    private func countDrop(_ error: SpoolError, state: inout State) {
        state.droppedAppends[error.code.rawValue, default: 0] += 1
        state.dropsSinceLastLog += 1
        let now = ContinuousClock.now
        if let last = state.lastDropLog, now - last < .seconds(10) { return }
        logger.error(
            "spool append failed; the record was dropped",
            metadata: ["spool.error": "\(error)", "spool.dropped_since_last_log": "\(state.dropsSinceLastLog)",
                       "spool.dropped_total": "\(state.droppedAppends.values.reduce(0, +))"])
        state.lastDropLog = now
        state.dropsSinceLastLog = 0
    }

    // MARK: - Retention

    private func enforceCaps(state: inout State) {
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
    private func dropOldestSegment(reason: String, state: inout State) {
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
            "spool.segment": "\(segment.path)", "spool.reason": "\(reason)", "spool.consumers_behind": .dictionary(behind),
        ]
        if behind.isEmpty {
            logger.info("spool segment deleted by cap", metadata: metadata)
        } else {
            logger.warning("spool segment deleted by cap before every consumer read it", metadata: metadata)
        }
    }

    /// Deletes closed segments that every consumer has acknowledged.
    private func deleteAcknowledgedSegments(state: inout State) {
        guard let minimumCursor = state.cursors.values.min() else { return }
        while state.segments.count > 1, state.segments[1].firstSequence - 1 <= minimumCursor {
            let segment = state.segments.removeFirst()
            do { try FileIO.remove(segment.path) } catch {
                logger.error("spool segment could not be deleted", metadata: ["spool.error": "\(error)"])
                return
            }
            logger.debug("spool segment deleted after every consumer passed it", metadata: ["spool.segment": "\(segment.path)"])
        }
    }

    // MARK: - Cursors

    /// Records that `consumer` has delivered everything up to and including `sequence`, then
    /// deletes segments every consumer has passed. The cursor is durable before any deletion.
    public func acknowledge(consumer: String, through sequence: UInt64) throws(SpoolError) {
        let current = state.withLock { $0.cursors[consumer] }
        guard let current else { throw SpoolError(.invalidArgument, "unknown consumer \"\(consumer)\"", path: directory) }
        guard sequence > current else { return }
        try persistCursor(consumer, sequence)
        state.withLock { state in
            state.cursors[consumer] = max(state.cursors[consumer] ?? 0, sequence)
            let cursor = state.cursors[consumer]!
            let last = state.nextSequence - 1
            state.consumers[consumer, default: ConsumerStatistics(cursor: 0, lagRecords: 0, lostRecords: 0,
                                                                  corruptRegionsSkipped: 0)].cursor = cursor
            state.consumers[consumer]!.lagRecords = last - min(cursor, last)
            deleteAcknowledgedSegments(state: &state)
        }
    }

    /// The last acknowledged sequence of `consumer`, or nil for an unknown consumer.
    public func cursor(of consumer: String) -> UInt64? { state.withLock { $0.cursors[consumer] } }

    private func persistCursor(_ consumer: String, _ sequence: UInt64) throws(SpoolError) {
        try cursorWrites.withLock { (_) throws(SpoolError) in
            try FileIO.replaceAtomically(
                CursorFile.path(for: consumer, in: cursorDirectory), in: cursorDirectory,
                with: CursorFile.encode(sequence))
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
                totalBytes: state.totalBytes, segmentCount: state.segments.count, lastSequence: last,
                appendedRecords: state.appendedRecords, droppedAppends: state.droppedAppends,
                segmentsDroppedByCap: state.segmentsDroppedByCap, consumers: consumers)
        }
    }

    // MARK: - For readers

    /// Where a reader may read: every segment, and how far the last one is complete.
    struct ReadableView {
        let segments: [(firstSequence: UInt64, path: String)]
        /// Bytes of the last segment that hold complete frames.
        let lastSegmentCommittedBytes: Int
    }

    func readableView() -> ReadableView {
        state.withLock { state in
            ReadableView(
                segments: state.segments.map { ($0.firstSequence, $0.path) },
                lastSegmentCommittedBytes: state.segments.last?.sizeBytes ?? 0)
        }
    }

    func recordReaderLoss(consumer: String, lostRecords: UInt64, corruptRegions: UInt64) {
        guard lostRecords > 0 || corruptRegions > 0 else { return }
        state.withLock { state in
            state.consumers[consumer]?.lostRecords += lostRecords
            state.consumers[consumer]?.corruptRegionsSkipped += corruptRegions
        }
    }
}
