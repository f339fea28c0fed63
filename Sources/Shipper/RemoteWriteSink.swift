import HTTPTransport
public import Spool
import WatcherProto

/// The Prometheus remote-write 1.0 sink's encoder (DESIGN §7): sample records become snappy
/// `WriteRequest`s of whole records where they fit, one tenant per request with `tenantHeader`.
public struct RemoteWriteSink: SinkEncoder {
    /// The remote-write endpoint.
    public let url: String
    /// Send `X-Scope-OrgID: <client_id>`, one tenant per request (Mimir, Cortex).
    public let tenantHeader: Bool
    let encoder: RemoteWriteEncoder
    /// Series that had a sample in the last encoded batch, for staleness markers.
    private var liveSeries: Set<[Prometheus_Label]> = []

    public let recordKinds: Set<RecordKind> = [.sample]
    public let itemName = "samples"

    public init(url: String, tenantHeader: Bool, instance: String, maxSamplesPerRequest: Int) {
        self.url = url
        self.tenantHeader = tenantHeader
        self.encoder = RemoteWriteEncoder(instance: instance, maxSamplesPerRequest: maxSamplesPerRequest)
    }

    public mutating func encode(_ batches: [SpoolBatch]) -> [OutgoingRequest] {
        var requests: [OutgoingRequest] = []
        var group: [SpoolBatch] = []
        var groupSamples = 0
        let metricCount = RemoteWriteEncoder.componentMetrics.count
        for item in batches {
            let samples = item.batch.components.count * metricCount + item.batch.models.count * 4
            if !group.isEmpty && groupSamples + samples > encoder.maxSamplesPerRequest {
                requests += encodeGroup(group)
                group.removeAll(keepingCapacity: true)
                groupSamples = 0
            }
            group.append(item)
            groupSamples += samples
        }
        if !group.isEmpty { requests += encodeGroup(group) }
        return requests
    }

    /// The requests of consecutive records; the last one acknowledges the group.
    private mutating func encodeGroup(_ group: [SpoolBatch]) -> [OutgoingRequest] {
        let series = encoder.series(for: group.map(\.batch), liveSeries: &liveSeries)
        var tenants: [(tenant: String?, series: [(labels: [Prometheus_Label], samples: [Prometheus_Sample])])] = []
        if tenantHeader {
            var index: [String: Int] = [:]
            for item in series {
                let tenant = item.labels.first { $0.name == "client_id" }?.value ?? ""
                if index[tenant] == nil {
                    index[tenant] = tenants.count
                    tenants.append((tenant, []))
                }
                tenants[index[tenant]!].series.append(item)
            }
        } else {
            tenants = [(nil, series)]
        }
        let oldest = group.first?.batch.timestampUnixMs ?? 0
        var requests: [OutgoingRequest] = []
        for (tenant, tenantSeries) in tenants {
            for writeRequest in encoder.pack(tenantSeries) {
                var headers: [(name: String, value: String)] = [
                    ("Content-Encoding", "snappy"),
                    ("Content-Type", "application/x-protobuf"),
                    ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                ]
                if let tenant { headers.append(("X-Scope-OrgID", tenant)) }
                let body = RemoteWriteEncoder.snappyCompress((try? writeRequest.serializedBytes()) ?? [])
                let samples = writeRequest.timeseries.reduce(0) { $0 + $1.samples.count }
                requests.append(
                    OutgoingRequest(
                        request: HTTPRequest(method: .post, url: url, headers: headers, body: body),
                        itemCount: samples, acknowledgeThrough: nil, oldestUnixMilliseconds: oldest))
            }
        }
        if requests.isEmpty { return [] }
        requests[requests.count - 1].acknowledgeThrough = group.last?.sequence
        return requests
    }
}
