import HTTPTransport
import Shipper
import SwiftProtobuf
import WatcherProto

/// The shipper bench's backlog: what the spool and the agent's WAL both hold.
extension ShipperBench {
    /// `tickCount` sample batches of `componentCount` healthy components, `tickSpacingMilliseconds`
    /// apart, their figures drifting from tick to tick as RealisticTick's do.
    static func backlog(firstTimestampUnixMilliseconds first: Int64) -> [ResourceWatcher_V1_Batch] {
        var random = SplitMix(seed: 2024)
        var components = RealisticTick.startingComponents(count: componentCount)
        return (0..<tickCount).map { tick in
            RealisticTick.drift(&components, random: &random)
            var batch = ResourceWatcher_V1_Batch()
            batch.schemaVersion = 1
            batch.agentID = instance + "/default"
            batch.timestampUnixMs = first + Int64(tick) * tickSpacingMilliseconds
            batch.intervalSeconds = Double(tickSpacingMilliseconds) / 1000
            batch.components = components
            return batch
        }
    }

    /// `request` as a remote-write 1.0 POST to `url`.
    static func remoteWrite(_ request: Prometheus_WriteRequest, url: String) throws -> HTTPRequest {
        HTTPRequest(
            method: .post,
            url: url,
            headers: [
                ("Content-Encoding", "snappy"), ("Content-Type", "application/x-protobuf"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ],
            body: RemoteWriteEncoder.snappyCompress(try request.serializedBytes())
        )
    }
}
