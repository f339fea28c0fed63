#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How far one container component's logs have been shipped.
///
/// The engine's `since` is inclusive, and several lines can share a timestamp: every part of a
/// line the engine split (over 16 KiB) carries the first part's time, so the rest of a line read
/// half-written arrives later with the time already shipped. The position is therefore the
/// timestamp of the last line shipped and how many bytes of the lines at that timestamp were
/// shipped: the next request asks from it, drops lines before it and the first
/// `shippedAtThrough` bytes at it (a line shipped in part continues with its rest).
struct ContainerLogPosition: Codable, Equatable, Sendable {
    /// The container the position is in. Another ID (a recreated container) is read from its start;
    /// empty when no container was there at the component's first look.
    var containerID: String
    /// Lines stamped before this were shipped; 0: nothing yet, read from the container's start.
    var shippedThroughUnixNanoseconds: Int64
    /// How many bytes of the lines stamped exactly `shippedThroughUnixNanoseconds` were shipped
    /// (in the engine's order); absent in files written before it was kept: all of them.
    var shippedAtThrough: Int

    enum CodingKeys: String, CodingKey {
        case containerID = "container_id"
        case shippedThroughUnixNanoseconds = "shipped_through_unix_ns"
        case shippedAtThrough = "shipped_at_through"
    }

    init(containerID: String, shippedThroughUnixNanoseconds: Int64, shippedAtThrough: Int = Int.max) {
        self.containerID = containerID
        self.shippedThroughUnixNanoseconds = shippedThroughUnixNanoseconds
        self.shippedAtThrough = shippedAtThrough
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        containerID = try container.decode(String.self, forKey: .containerID)
        // Decimal text: nanoseconds since 1970 do not fit a JSON number every reader parses exactly.
        let text = try container.decode(String.self, forKey: .shippedThroughUnixNanoseconds)
        guard let nanoseconds = Int64(text), nanoseconds >= 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .shippedThroughUnixNanoseconds,
                in: container,
                debugDescription: "not a timestamp"
            )
        }
        shippedThroughUnixNanoseconds = nanoseconds
        shippedAtThrough = try container.decodeIfPresent(Int.self, forKey: .shippedAtThrough) ?? Int.max
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(containerID, forKey: .containerID)
        try container.encode(String(shippedThroughUnixNanoseconds), forKey: .shippedThroughUnixNanoseconds)
        if shippedAtThrough != Int.max { try container.encode(shippedAtThrough, forKey: .shippedAtThrough) }
    }
}

/// The container log positions file in the spool directory, beside `tail-positions.json` and
/// kept by a `PositionsLedger` the same way, keyed by component name:
///
///     {"version": 1,
///      "containers": {"web-app": {"container_id": "4c9b2d6e…", "shipped_through_unix_ns": "1714557600123456789"}}}
enum ContainerLogPositionsFile {
    static let fileName = "container-log-positions.json"
    static let sourcesKey = "containers"
}
