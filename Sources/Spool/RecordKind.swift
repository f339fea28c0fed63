/// What a spool record holds. The spool stores it in the frame header and never interprets it,
/// so a consumer can skip records it does not ship without decompressing them.
public struct RecordKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// One tick's component samples, model usage and alerts.
    public static let sample = RecordKind(rawValue: 1)
    /// Log records.
    public static let logs = RecordKind(rawValue: 2)
    /// Model usage events as posted to the status API, kept until the next sample batch
    /// carries their totals (so an accepted event survives a crash).
    public static let usage = RecordKind(rawValue: 3)

    public var description: String {
        switch self {
        case .sample: "sample"
        case .logs: "logs"
        case .usage: "usage"
        default: "kind-\(rawValue)"
        }
    }
}

/// One record read back from the spool.
public struct SpoolRecord: Sendable, Equatable {
    public let sequence: UInt64
    public let kind: RecordKind
    /// The decompressed payload, byte for byte what was appended.
    public let payload: [UInt8]

    public init(sequence: UInt64, kind: RecordKind, payload: [UInt8]) {
        self.sequence = sequence
        self.kind = kind
        self.payload = payload
    }
}
