#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How far one container component's logs have been shipped.
///
/// The engine's `since` is inclusive and only as fine as its timestamps, so the position is the
/// timestamp of the last line shipped: the next request asks from it and drops lines at or before
/// it. A read cut by the per-tick limits stops between two distinct timestamps, so no line at the
/// position is left behind.
struct ContainerLogPosition: Codable, Equatable, Sendable {
    /// The container the position is in. Another ID (a recreated container) is read from its start;
    /// empty when no container was there at the component's first look.
    var containerID: String
    /// Lines stamped at or before this were shipped; 0: nothing yet, read from the container's start.
    var shippedThroughUnixNanoseconds: Int64

    enum CodingKeys: String, CodingKey {
        case containerID = "container_id"
        case shippedThroughUnixNanoseconds = "shipped_through_unix_ns"
    }

    init(containerID: String, shippedThroughUnixNanoseconds: Int64) {
        self.containerID = containerID
        self.shippedThroughUnixNanoseconds = shippedThroughUnixNanoseconds
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
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(containerID, forKey: .containerID)
        try container.encode(String(shippedThroughUnixNanoseconds), forKey: .shippedThroughUnixNanoseconds)
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
