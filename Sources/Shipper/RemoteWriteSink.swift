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
            return Self.request(
                url: url,
                headers: headers,
                bytes: encoded.bytes,
                samples: encoded.sampleCount,
                oldest: oldest
            )
        }
        if requests.isEmpty { return [] }
        requests[requests.count - 1].acknowledgeThrough = group.last?.sequence
        return requests
    }

    /// One request of `bytes` (an uncompressed `WriteRequest`), splittable for a rejection.
    static func request(
        url: String,
        headers: [(name: String, value: String)],
        bytes: [UInt8],
        samples: Int,
        oldest: Int64
    ) -> OutgoingRequest {
        OutgoingRequest(
            request: HTTPRequest(
                method: .post,
                url: url,
                headers: headers,
                body: RemoteWriteEncoder.snappyCompress(bytes)
            ),
            itemCount: samples,
            acknowledgeThrough: nil,
            oldestUnixMilliseconds: oldest,
            split: samples > 1
                ? { @Sendable in halves(url: url, headers: headers, bytes: bytes, oldest: oldest) } : nil,
            splitsOnRejection: true
        )
    }

    /// The request of `bytes` as two: its series in halves, or a single series' samples in
    /// halves (time order kept). A receiver that refuses a whole request for some samples
    /// (Prometheus rolls back a request with any sample older than its series' newest) then
    /// takes the rest: a resend after a crash or an outage that repeats samples it already
    /// holds, drawn with other request boundaries, no longer takes fresh samples down with it.
    static func halves(
        url: String,
        headers: [(name: String, value: String)],
        bytes: [UInt8],
        oldest: Int64
    ) -> [OutgoingRequest] {
        guard let whole = try? Prometheus_WriteRequest(serializedBytes: bytes) else { return [] }
        var parts: [Prometheus_WriteRequest] = []
        if whole.timeseries.count > 1 {
            let middle = whole.timeseries.count / 2
            for range in [0..<middle, middle..<whole.timeseries.count] {
                var part = Prometheus_WriteRequest()
                part.timeseries = Array(whole.timeseries[range])
                parts.append(part)
            }
        } else if let series = whole.timeseries.first, series.samples.count > 1 {
            let middle = series.samples.count / 2
            for range in [0..<middle, middle..<series.samples.count] {
                var part = Prometheus_WriteRequest()
                var piece = series
                piece.samples = Array(series.samples[range])
                part.timeseries = [piece]
                parts.append(part)
            }
        }
        return parts.compactMap { part in
            guard let partBytes: [UInt8] = try? part.serializedBytes() else { return nil }
            let samples = part.timeseries.reduce(0) { $0 + $1.samples.count }
            return request(url: url, headers: headers, bytes: partBytes, samples: samples, oldest: oldest)
        }
    }
}
