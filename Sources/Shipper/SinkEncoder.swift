public import HTTPTransport
public import Spool
public import WatcherProto

/// One spool record of a kind a sink reads, decoded.
public struct SpoolBatch: Sendable {
    /// The record's spool sequence number.
    public let sequence: UInt64
    /// The record's kind (`.sample` or `.logs`).
    public let kind: RecordKind
    /// The decoded batch.
    public let batch: ResourceWatcher_V1_Batch

    public init(sequence: UInt64, kind: RecordKind, batch: ResourceWatcher_V1_Batch) {
        self.sequence = sequence
        self.kind = kind
        self.batch = batch
    }
}

/// One request a sink will send, and what settling it (delivered or dropped) means.
public struct OutgoingRequest: Sendable {
    /// The complete request, body included.
    public var request: HTTPRequest
    /// What it carries, in the sink's unit: samples, log lines, or posts.
    public var itemCount: Int
    /// Once this request and every earlier one are settled, every record up to this sequence
    /// is done and the cursor may move there; nil when the request ends no record.
    public var acknowledgeThrough: UInt64?
    /// Timestamp (Unix ms) of the oldest data in the request, for the sink's lag in seconds.
    public var oldestUnixMilliseconds: Int64
    /// The same items as two or more smaller requests, in order, for a destination that
    /// refused this one as too large (413); nil when the request cannot be split (one item).
    public var split: (@Sendable () -> [OutgoingRequest])?
    /// Whether a destination that refuses this request for some of its items (4xx) drops the
    /// whole request, so the others must be sent again in halves (Prometheus rolls back a
    /// remote-write request); false where it keeps the valid items itself (Loki).
    public var splitsOnRejection: Bool

    public init(
        request: HTTPRequest,
        itemCount: Int,
        acknowledgeThrough: UInt64?,
        oldestUnixMilliseconds: Int64,
        split: (@Sendable () -> [OutgoingRequest])? = nil,
        splitsOnRejection: Bool = false
    ) {
        self.splitsOnRejection = splitsOnRejection
        self.request = request
        self.itemCount = itemCount
        self.acknowledgeThrough = acknowledgeThrough
        self.oldestUnixMilliseconds = oldestUnixMilliseconds
        self.split = split
    }
}

/// Turns decoded spool records into a destination's requests: the part of a sink that knows the
/// destination's protocol. The `SinkService` around it does reading, retries and cursors.
///
/// `encode` may keep state across calls (remote-write remembers live series for staleness
/// markers); it is called with records in sequence order, each record once per process.
public protocol SinkEncoder: Sendable {
    /// The spool record kinds this sink ships; others are skipped unread.
    var recordKinds: Set<RecordKind> { get }
    /// What one `itemCount` is ("samples", "lines", "posts"), for logs and metrics.
    var itemName: String { get }
    /// Requests for `batches`, in the order they must be sent.
    mutating func encode(_ batches: [SpoolBatch]) -> [OutgoingRequest]
}
