import HTTPTransport
public import Spool
import WatcherModel
import WatcherProto

/// The Prometheus remote-write 1.0 sink's encoder (DESIGN §7): sample records become snappy
/// `WriteRequest`s, one tenant per request with `tenantHeader`.
///
/// Records are grouped until a group fills `requestsPerGroup` requests, so requests are full
/// (only a group's last one may be short); the group's last request acknowledges it. A crash
/// resends at most one group.
public struct RemoteWriteSink: SinkEncoder {
    /// The remote-write endpoint.
    public let url: String
    /// Send `X-Scope-OrgID: <client_id>`, one tenant per request (Mimir, Cortex).
    public let tenantHeader: Bool
    /// Requests a group of records fills before it is closed.
    let requestsPerGroup: Int
    private var encoder: RemoteWriteEncoder

    public let recordKinds: Set<RecordKind> = [.sample]
    public let itemName = "samples"

    public init(
        url: String,
        tenantHeader: Bool,
        instance: String,
        maxSamplesPerRequest: Int,
        requestsPerGroup: Int = 32
    ) {
        self.url = url
        self.tenantHeader = tenantHeader
        self.requestsPerGroup = requestsPerGroup
        self.encoder = RemoteWriteEncoder(instance: instance, maxSamplesPerRequest: maxSamplesPerRequest)
    }

    public mutating func encode(_ batches: [SpoolBatch]) -> [OutgoingRequest] {
        var requests: [OutgoingRequest] = []
        var group: [SpoolBatch] = []
        var groupSamples = 0
        let perComponent = SeedMetrics.components.count
        let perModel = RemoteWriteEncoder.modelMetrics.count
        let groupTarget = encoder.maxSamplesPerRequest * requestsPerGroup
        for item in batches {
            group.append(item)
            groupSamples += item.batch.components.count * perComponent + item.batch.models.count * perModel
            if groupSamples >= groupTarget {
                requests += encodeGroup(group)
                group.removeAll(keepingCapacity: true)
                groupSamples = 0
            }
        }
        if !group.isEmpty { requests += encodeGroup(group) }
        return requests
    }

    /// The requests of consecutive records; the last one acknowledges the group.
    private mutating func encodeGroup(_ group: [SpoolBatch]) -> [OutgoingRequest] {
        let oldest = group.first?.batch.timestampUnixMs ?? 0
        var requests = encoder.encode(group.map(\.batch), perTenant: tenantHeader).map { encoded in
            var headers: [(name: String, value: String)] = [
                ("Content-Encoding", "snappy"),
                ("Content-Type", "application/x-protobuf"),
                ("X-Prometheus-Remote-Write-Version", "0.1.0"),
            ]
            if let tenant = encoded.tenant { headers.append(("X-Scope-OrgID", tenant)) }
            return OutgoingRequest(
                request: HTTPRequest(
                    method: .post,
                    url: url,
                    headers: headers,
                    body: RemoteWriteEncoder.snappyCompress(encoded.bytes)
                ),
                itemCount: encoded.sampleCount,
                acknowledgeThrough: nil,
                oldestUnixMilliseconds: oldest
            )
        }
        if requests.isEmpty { return [] }
        requests[requests.count - 1].acknowledgeThrough = group.last?.sequence
        return requests
    }
}
