/// Where batches are kept on disk and how much of them (`spool` in the config file).
public struct SpoolConfig: Sendable, Equatable {
    /// The spool's directory (`dir`); a relative path is relative to the working directory.
    public var directory: String
    /// Total bytes of segment files before the oldest are deleted (`max_bytes`).
    public var maxBytes: Int
    /// Hours after which closed segments are deleted (`max_age_hours`); nil (`0` or `null` in
    /// the file) keeps them until `maxBytes` needs the space.
    public var maxAgeHours: Double?
    /// Size at which a segment is closed and the next one started (`segment_bytes`).
    public var segmentBytes: Int
    /// When appends are made durable (`fsync`).
    public var fsync: SpoolFsyncPolicy

    /// The default directory when the config names none.
    public static let defaultDirectory = "/var/lib/resource-watcher/spool"

    /// Defaults: 1 GiB, 168 hours, 8 MiB segments, fsync every batch.
    public init(
        directory: String = SpoolConfig.defaultDirectory,
        maxBytes: Int = 1 << 30,
        maxAgeHours: Double? = 168,
        segmentBytes: Int = 8 << 20,
        fsync: SpoolFsyncPolicy = .batch
    ) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.maxAgeHours = maxAgeHours
        self.segmentBytes = segmentBytes
        self.fsync = fsync
    }

    /// `maxAgeHours` as a duration; nil when age does not limit the spool.
    public var maxAge: Duration? {
        maxAgeHours.map { .nanoseconds(Int64(($0 * 3600 * 1e9).rounded())) }
    }
}

/// When spool appends are made durable; the raw values are the config file's words and match
/// the Spool module's `FsyncPolicy`.
public enum SpoolFsyncPolicy: String, Sendable, Equatable, CaseIterable {
    /// Every append is synced before it returns: survives a power cut.
    case batch
    /// Synced at most once per interval: a power cut may lose the last interval.
    case interval
    /// Never synced by the agent: survives a process crash, not a power cut.
    case never
}
