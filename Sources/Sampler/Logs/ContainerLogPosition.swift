#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How far one container component's logs have been shipped, per stream.
///
/// The engine's `since` is inclusive, and several lines can share a timestamp: every part of a
/// line the engine split (over 16 KiB) carries the first part's time, so the rest of a line read
/// half-written arrives later with the time already shipped. A stream's mark is therefore the
/// timestamp of its last line shipped and how many bytes of its lines at that timestamp were
/// shipped: the next request drops the stream's lines before it and the first `atThrough` bytes
/// at it (a line shipped in part continues with its rest).
///
/// stdout and stderr have a mark each: the engine copies the two streams into its log
/// separately, so a stdout line stamped just before a stderr line can be written (and read)
/// after it. Within one stream the log is in time order. The request asks from the older mark.
struct ContainerLogPosition: Codable, Equatable, Sendable {
    /// How far one stream has been shipped.
    struct Mark: Equatable, Sendable {
        /// The stream's lines stamped before this were shipped; 0: nothing yet.
        var through: Int64
        /// How many bytes of the stream's lines stamped exactly `through` were shipped (in the
        /// engine's order); `Int.max` in files written before it was kept: all of them.
        var atThrough: Int
    }

    /// The container the position is in. Another ID (a recreated container) is read from its start;
    /// empty when no container was there at the component's first look.
    var containerID: String
    var stdout: Mark
    var stderr: Mark

    enum CodingKeys: String, CodingKey {
        case containerID = "container_id"
        case shippedThroughUnixNanoseconds = "shipped_through_unix_ns"
        case shippedAtThrough = "shipped_at_through"
        case stderrShippedThroughUnixNanoseconds = "stderr_shipped_through_unix_ns"
        case stderrShippedAtThrough = "stderr_shipped_at_through"
    }

    /// Both streams shipped through `shippedThroughUnixNanoseconds` (0: read from the start).
    init(containerID: String, shippedThroughUnixNanoseconds: Int64, shippedAtThrough: Int = Int.max) {
        self.containerID = containerID
        stdout = Mark(through: shippedThroughUnixNanoseconds, atThrough: shippedAtThrough)
        stderr = stdout
    }

    init(containerID: String, stdout: Mark, stderr: Mark) {
        self.containerID = containerID
        self.stdout = stdout
        self.stderr = stderr
    }

    subscript(stream: DockerLogStream.Stream) -> Mark {
        get { stream == .stdout ? stdout : stderr }
        set {
            if stream == .stdout { stdout = newValue } else { stderr = newValue }
        }
    }

    /// Where the next request starts: the older of the two marks (0: from the start).
    var sinceUnixNanoseconds: Int64 { min(stdout.through, stderr.through) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        containerID = try container.decode(String.self, forKey: .containerID)
        stdout = Mark(
            through: try Self.decodeTimestamp(container, .shippedThroughUnixNanoseconds),
            atThrough: try container.decodeIfPresent(Int.self, forKey: .shippedAtThrough) ?? Int.max
        )
        // A file from before the streams had marks of their own: stderr stands where stdout does.
        if container.contains(.stderrShippedThroughUnixNanoseconds) {
            stderr = Mark(
                through: try Self.decodeTimestamp(container, .stderrShippedThroughUnixNanoseconds),
                atThrough: try container.decodeIfPresent(Int.self, forKey: .stderrShippedAtThrough) ?? Int.max
            )
        } else {
            stderr = stdout
        }
    }

    /// Decimal text: nanoseconds since 1970 do not fit a JSON number every reader parses exactly.
    private static func decodeTimestamp(
        _ container: KeyedDecodingContainer<CodingKeys>,
        _ key: CodingKeys
    ) throws -> Int64 {
        let text = try container.decode(String.self, forKey: key)
        guard let nanoseconds = Int64(text), nanoseconds >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not a timestamp")
        }
        return nanoseconds
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(containerID, forKey: .containerID)
        try container.encode(String(stdout.through), forKey: .shippedThroughUnixNanoseconds)
        if stdout.atThrough != Int.max { try container.encode(stdout.atThrough, forKey: .shippedAtThrough) }
        try container.encode(String(stderr.through), forKey: .stderrShippedThroughUnixNanoseconds)
        if stderr.atThrough != Int.max { try container.encode(stderr.atThrough, forKey: .stderrShippedAtThrough) }
    }
}

/// The container log positions file in the spool directory, beside `tail-positions.json` and
/// kept by a `PositionsLedger` the same way, keyed by component name:
///
///     {"version": 1,
///      "containers": {"web-app": {"container_id": "4c9b2d6e…",
///                                 "shipped_through_unix_ns": "1714557600123456789", "shipped_at_through": 61,
///                                 "stderr_shipped_through_unix_ns": "1714557600123000000", "stderr_shipped_at_through": 40}}}
enum ContainerLogPositionsFile {
    static let fileName = "container-log-positions.json"
    static let sourcesKey = "containers"
}
