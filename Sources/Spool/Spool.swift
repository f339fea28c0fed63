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
    let state: Mutex<State>
    /// The head, the last sequence and the statistics, published after each change under their
    /// own lock, so their readers (the status API: `/health`, `/metrics`, `status`) never wait
    /// for an append's fsync, a cursor write or a segment deletion.
    let published: Mutex<Published>

    struct Published {
        var head: [RecordKind: SpoolRecord]
        var lastSequence: UInt64
        var statistics: SpoolStatistics
    }
    /// Serialises cursor file writes without holding up appends.
    let cursorWrites = Mutex<Void>(())
    let lockDescriptor: Int32

    struct Segment {
        let firstSequence: UInt64
        let path: String
        var sizeBytes: Int
        var lastWriteUnixSeconds: Int
        /// False for closed segments found at open, until `loadSegmentMetadata` stats them: open
        /// reads no metadata but the last segment's, so its cost does not grow with the spool.
        var metadataKnown = true
    }

    struct DroppedRange {
        let first: UInt64
        let last: UInt64
        let kinds: [UInt8: UInt64]
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
        /// What each consumer's cursor file says, and when it was last written: cursors are
        /// written at most every `SpoolOptions.cursorPersistInterval` (and on close), and
        /// segments are deleted only behind what the files say.
        var persistedCursors: [String: UInt64]
        var cursorPersistedAt: [String: ContinuousClock.Instant] = [:]
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
        /// A segment was created and the directory holding its name is not known to be on disk.
        var directoryUnsynced = false
        /// The sequences of segments deleted by a cap, with how many records of each kind they
        /// held, so a reader counts as lost only the kinds its sink ships.
        var droppedByCap: [DroppedRange] = []
        var totalBytes: Int { segments.reduce(0) { $0 + $1.sizeBytes } }

        /// The figures `Spool.statistics()` publishes.
        var statistics: SpoolStatistics {
            let last = nextSequence - 1
            var consumers = consumers
            for (name, cursor) in cursors {
                consumers[name]?.cursor = cursor
                consumers[name]?.lagRecords = last - min(cursor, last)
            }
            return SpoolStatistics(
                totalBytes: totalBytes,
                segmentCount: segments.count,
                lastSequence: last,
                appendedRecords: appendedRecords,
                droppedAppends: droppedAppends,
                segmentsDroppedByCap: segmentsDroppedByCap,
                consumers: consumers
            )
        }

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
    public init(
        directory: String,
        options: SpoolOptions = SpoolOptions(),
        consumers: [String] = [],
        logger: Logger
    )
        throws(SpoolError)
    {
        precondition(options.segmentSizeBytes > 0 && options.maxBytes > 0, "spool sizes must be positive")
        self.directory = directory
        self.options = options
        self.logger = logger
        self.cursorDirectory = directory + "/cursors"
        try FileIO.makeDirectory(cursorDirectory)
        // Every tenant's data is in here: private to the agent's user, whatever made it before.
        for (path, followingLink) in [(directory, true), (cursorDirectory, false)] {
            if let mode = try FileIO.makePrivate(directory: path, followingLink: followingLink) {
                logger.warning(
                    "spool directory was readable by others; made it private (0700)",
                    metadata: ["spool.path": "\(path)", "spool.old_mode": "\(String(mode, radix: 8))"]
                )
            }
        }
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
            let opened = try SpoolOpener(directory: directory, cursorDirectory: cursorDirectory, consumers: consumers)
                .open()
            self.recovery = opened.report
            initialCursors = opened.newCursors
            var consumerStatistics: [String: ConsumerStatistics] = [:]
            for (name, cursor) in opened.cursors {
                consumerStatistics[name] = ConsumerStatistics(
                    cursor: cursor,
                    lagRecords: opened.nextSequence - 1 - min(cursor, opened.nextSequence - 1),
                    lostRecords: 0,
                    corruptRegionsSkipped: 0
                )
            }
            let initial = State(
                segments: opened.segments,
                nextSequence: opened.nextSequence,
                encoder: FrameEncoder(compressionLevel: options.compressionLevel),
                head: opened.head,
                cursors: opened.cursors,
                persistedCursors: opened.cursors,
                consumers: consumerStatistics
            )
            self.published = Mutex(
                Published(head: opened.head, lastSequence: opened.nextSequence - 1, statistics: initial.statistics)
            )
            self.state = Mutex(initial)
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
                metadata: [
                    "spool.segment": "\(region.segment)", "spool.offset": "\(region.offset)",
                    "spool.length": "\(region.length)",
                ]
            )
        }
        for name in recovery.cursorsAheadOfData {
            logger.warning(
                "spool cursor is past the last record; new records continue after it",
                metadata: ["spool.consumer": "\(name)"]
            )
        }
        for name in recovery.unreadableCursors {
            logger.error(
                "spool cursor file is unreadable; consumer restarts from the oldest record",
                metadata: ["spool.consumer": "\(name)"]
            )
        }
        logger.debug("spool opened", metadata: metadata)
    }

    /// Flushes and closes the active segment and releases the directory lock.
    /// Appends after this fail with `.closed`.
    public func close() {
        try? persistCursors()
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
}
