/// When appends are made durable.
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// Every append is fdatasync'ed before it returns: a returned append survives a power cut.
    case batch
    /// At most one fdatasync per `SpoolOptions.fsyncInterval`, at append time and on close.
    case interval
    /// Never fsync; the kernel writes back when it likes. Survives a process crash, not a power cut.
    case never
}

/// Sizes, caps and durability of a spool.
public struct SpoolOptions: Sendable {
    /// Total bytes of segment files above which the oldest closed segments are deleted.
    public var maxBytes: Int
    /// Closed segments last written longer ago than this are deleted; nil keeps them.
    public var maxAge: Duration?
    /// A segment is closed and a new one started once it reaches this size.
    public var segmentSizeBytes: Int
    public var fsync: FsyncPolicy
    public var fsyncInterval: Duration
    /// zstd level; 3 is zstd's default balance of speed and ratio.
    public var compressionLevel: Int32
    /// A consumer's cursor file is written at most this often (and on close; zero: on every
    /// acknowledgement). Delivery is at-least-once: after a crash, a cursor this far behind
    /// only means the requests of those seconds are sent again. Each write costs a page on
    /// disk (a new 16-byte file, synced): every 10 s for three sinks is 72 KiB a minute.
    public var cursorPersistInterval: Duration = .seconds(10)
    /// A test seam standing in for a slow disk: every append's fdatasync first sleeps this long
    /// (under the append lock, as a slow fsync holds it). The agent never sets it.
    public var syncDelayForTesting: Duration?
    /// A test seam standing in for a failing disk: fsync of the spool directory fails with EIO
    /// while this is true. The agent never sets it.
    public var directorySyncFailsForTesting = false

    public init(
        maxBytes: Int = 1 << 30,
        maxAge: Duration? = .seconds(168 * 3600),
        segmentSizeBytes: Int = 8 << 20,
        fsync: FsyncPolicy = .batch,
        fsyncInterval: Duration = .seconds(1),
        compressionLevel: Int32 = 3,
        syncDelayForTesting: Duration? = nil
    ) {
        self.syncDelayForTesting = syncDelayForTesting
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.segmentSizeBytes = segmentSizeBytes
        self.fsync = fsync
        self.fsyncInterval = fsyncInterval
        self.compressionLevel = compressionLevel
    }
}
