/// A damaged byte range that was skipped.
public struct CorruptRegion: Sendable, Equatable, CustomStringConvertible {
    public let segment: String
    public let offset: Int
    public let length: Int

    public var description: String { "\(length) bytes at offset \(offset) of \(segment)" }
}

/// What `Spool.init` found and repaired while opening.
public struct SpoolRecoveryReport: Sendable, Equatable {
    public var segmentCount = 0
    /// The segment whose torn or garbage tail was cut off, and how many bytes were cut.
    public var truncatedSegment: String?
    public var truncatedBytes = 0
    /// Damage inside the last segment, before its last valid frame: skipped by readers.
    public var corruptRegions: [CorruptRegion] = []
    /// Consumers whose cursor was past the last frame (the tail they acknowledged is gone).
    public var cursorsAheadOfData: [String] = []
    /// Cursor files that could not be parsed; those consumers restart from the oldest data.
    public var unreadableCursors: [String] = []

    public var isClean: Bool {
        truncatedBytes == 0 && corruptRegions.isEmpty && cursorsAheadOfData.isEmpty && unreadableCursors.isEmpty
    }
}

/// Per-consumer delivery figures.
public struct ConsumerStatistics: Sendable, Equatable {
    /// Last acknowledged sequence number.
    public var cursor: UInt64
    /// Records appended but not yet acknowledged.
    public var lagRecords: UInt64
    /// Sequence numbers this consumer never saw: deleted by the size or age cap, or lost to damage.
    public var lostRecords: UInt64
    /// Damaged regions this consumer's reader skipped.
    public var corruptRegionsSkipped: UInt64
}

/// A snapshot of the spool's state for self-metrics and `status`.
public struct SpoolStatistics: Sendable, Equatable {
    public var totalBytes: Int
    public var segmentCount: Int
    /// Sequence of the newest record, or 0 when nothing was ever appended.
    public var lastSequence: UInt64
    public var appendedRecords: UInt64
    /// Appends that failed and were dropped, by reason (`disk_full`, `io`).
    public var droppedAppends: [String: UInt64]
    /// Segments deleted by `maxBytes` or `maxAge` before every consumer had passed them.
    public var segmentsDroppedByCap: UInt64
    public var consumers: [String: ConsumerStatistics]
}
