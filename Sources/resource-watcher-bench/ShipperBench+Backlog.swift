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
        let kinds = [
            "ollama", "langchain-api", "langchain-worker", "qdrant", "embeddings", "rag-gateway", "vllm",
            "redis-cache", "postgres-vector", "whisper",
        ]
        let tenants = ["default", "acme-corp", "globex"]
        var components = (0..<componentCount).map { index in
            var sample = ResourceWatcher_V1_ComponentSample()
            sample.name = "\(kinds[index % kinds.count])-\(index / kinds.count + 1)"
            sample.clientID = tenants[index % tenants.count]
            sample.status = .healthy
            sample.memoryUsageKib = 200_000 + UInt64(index) * 37_000
            sample.diskUsageKib = 1_000_000 + UInt64(index) * 250_000
            sample.processCount = UInt32(1 + index % 4)
            return sample
        }
        return (0..<tickCount).map { tick in
            for index in components.indices {
                var sample = components[index]
                let load = Double(random.next() % 1000) / 1000
                sample.cpuUsageCentipercent = UInt32(load * load * 8_000)
                let drift = Int64(random.next() % 2001) - 1000
                sample.memoryUsageKib = UInt64(max(50_000, Int64(sample.memoryUsageKib) + drift))
                sample.memoryUsageCentipercent = UInt32(sample.memoryUsageKib * 10_000 / 24_000_000)
                if random.next() % 10 == 0 { sample.diskUsageKib += random.next() % 512 }
                sample.networkInBytesPerSecond = random.next() % 200_000
                sample.networkOutBytesPerSecond = random.next() % 80_000
                components[index] = sample
            }
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
