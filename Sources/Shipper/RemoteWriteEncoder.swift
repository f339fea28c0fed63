import CSnappy
public import WatcherProto

/// Turns sample batches into Prometheus remote-write 1.0 requests (DESIGN §7): the seed's metric
/// names in DESIGN §3 units, labels `client_id`, `component`, `instance`, `job` sorted by name
/// with `__name__`, samples in time order per series, at most `maxSamplesPerRequest` per request.
public struct RemoteWriteEncoder: Sendable {
    public let instance: String
    public let job: String
    public let maxSamplesPerRequest: Int

    public init(instance: String, job: String = "resource-watcher", maxSamplesPerRequest: Int = 2000) {
        precondition(maxSamplesPerRequest > 0, "a request must hold at least one sample")
        self.instance = instance
        self.job = job
        self.maxSamplesPerRequest = maxSamplesPerRequest
    }

    /// The seed's component metrics and how each is read from a sample, in DESIGN §3 units.
    static let componentMetrics: [(name: String, value: @Sendable (ResourceWatcher_V1_ComponentSample) -> Double)] = [
        ("resource_watcher_component_cpu_usage", { Double($0.cpuUsageCentipercent) / 100 }),
        ("resource_watcher_component_memory_usage", { Double($0.memoryUsageKib) / 1024 }),
        ("resource_watcher_component_memory_usage_percent", { Double($0.memoryUsageCentipercent) / 100 }),
        ("resource_watcher_component_disk_usage", { Double($0.diskUsageKib) / 1024 }),
        ("resource_watcher_component_network_in", { Double($0.networkInBytesPerSecond) / 1024 }),
        ("resource_watcher_component_network_out", { Double($0.networkOutBytesPerSecond) / 1024 }),
    ]

    /// Prometheus' staleness marker: a NaN with this exact bit pattern ends a series at once.
    public static let staleMarker = Double(bitPattern: 0x7FF0_0000_0000_0002)

    /// Requests for `batches` (in sequence, hence time, order). A component that is down has no
    /// figures, so it contributes no samples for that tick.
    public func requests(for batches: [ResourceWatcher_V1_Batch]) -> [Prometheus_WriteRequest] {
        var liveSeries: Set<[Prometheus_Label]> = []
        return pack(series(for: batches, liveSeries: &liveSeries))
    }

    /// Every series' samples for `batches`, in first-seen order. A series live before a batch
    /// (in `liveSeries`) and absent from it — its component went down or away — gets a
    /// staleness marker at that batch's time; `liveSeries` is left as the last batch's set.
    func series(
        for batches: [ResourceWatcher_V1_Batch], liveSeries: inout Set<[Prometheus_Label]>
    ) -> [(labels: [Prometheus_Label], samples: [Prometheus_Sample])] {
        var order: [[Prometheus_Label]] = []
        var samples: [[Prometheus_Label]: [Prometheus_Sample]] = [:]
        func add(_ labels: [Prometheus_Label], _ value: Double, at timestamp: Int64) {
            var sample = Prometheus_Sample()
            sample.value = value
            sample.timestamp = timestamp
            if samples[labels] == nil { order.append(labels) }
            samples[labels, default: []].append(sample)
        }
        for batch in batches {
            var seen: Set<[Prometheus_Label]> = []
            for component in batch.components where component.status == .healthy || component.status == .degraded {
                for metric in Self.componentMetrics {
                    let labels = labels(metric: metric.name, component: component)
                    add(labels, metric.value(component), at: batch.timestampUnixMs)
                    seen.insert(labels)
                }
            }
            for model in batch.models {
                for (name, extra, value) in Self.modelMetrics(model) {
                    let labels = labels(metric: name, pairs: [
                        ("client_id", model.clientID), ("model", model.name), ("provider", model.provider),
                    ] + extra)
                    add(labels, value, at: batch.timestampUnixMs)
                    seen.insert(labels)
                }
            }
            for gone in liveSeries.subtracting(seen) { add(gone, Self.staleMarker, at: batch.timestampUnixMs) }
            liveSeries = seen
        }
        return order.map { labels in (labels, samples[labels]!.sorted { $0.timestamp < $1.timestamp }) }
    }

    /// Packs series into requests of at most `maxSamplesPerRequest` samples, splitting a long
    /// series across requests in time order.
    func pack(_ series: [(labels: [Prometheus_Label], samples: [Prometheus_Sample])]) -> [Prometheus_WriteRequest] {
        var requests: [Prometheus_WriteRequest] = []
        var current = Prometheus_WriteRequest()
        var count = 0
        for (labels, samples) in series {
            var remaining = samples[...]
            while !remaining.isEmpty {
                if count == maxSamplesPerRequest {
                    requests.append(current)
                    current = Prometheus_WriteRequest()
                    count = 0
                }
                let take = min(remaining.count, maxSamplesPerRequest - count)
                var item = Prometheus_TimeSeries()
                item.labels = labels
                item.samples = Array(remaining.prefix(take))
                current.timeseries.append(item)
                remaining = remaining.dropFirst(take)
                count += take
            }
        }
        if count > 0 { requests.append(current) }
        return requests
    }

    /// The seed's model metrics for one model's running totals: requests, tokens by direction,
    /// and the average latency in milliseconds.
    static func modelMetrics(_ model: ResourceWatcher_V1_ModelUsage) -> [(String, [(String, String)], Double)] {
        let average = model.requestsCount == 0 ? 0 : Double(model.latencyMicrosecondsSum) / Double(model.requestsCount) / 1000
        return [
            ("resource_watcher_model_request_count", [], Double(model.requestsCount)),
            ("resource_watcher_model_tokens_processed", [("direction", "input")], Double(model.tokensInput)),
            ("resource_watcher_model_tokens_processed", [("direction", "output")], Double(model.tokensOutput)),
            ("resource_watcher_model_latency", [], average),
        ]
    }

    private func labels(metric: String, component: ResourceWatcher_V1_ComponentSample) -> [Prometheus_Label] {
        labels(metric: metric, pairs: [("client_id", component.clientID), ("component", component.name)])
    }

    /// `pairs` plus `__name__`, `instance` and `job`, empty values left out, sorted by name.
    private func labels(metric: String, pairs: [(String, String)]) -> [Prometheus_Label] {
        let pairs = [("__name__", metric), ("instance", instance), ("job", job)] + pairs
        return pairs.filter { !$0.1.isEmpty }.sorted { $0.0 < $1.0 }.map { name, value in
            var label = Prometheus_Label()
            label.name = name
            label.value = value
            return label
        }
    }

    /// Snappy block format (not framed), as remote-write requires.
    public static func snappyCompress(_ bytes: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: snappy_max_compressed_length(bytes.count))
        var length = output.count
        let status = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                snappy_compress(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self), input.count,
                    out.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
            }
        }
        precondition(status == SNAPPY_OK, "snappy_compress failed with a buffer of snappy_max_compressed_length")
        output.removeLast(output.count - length)
        return output
    }

    /// The inverse of `snappyCompress`; nil when `bytes` is not a valid snappy block.
    public static func snappyDecompress(_ bytes: [UInt8]) -> [UInt8]? {
        bytes.withUnsafeBytes { input -> [UInt8]? in
            let source = input.baseAddress?.assumingMemoryBound(to: CChar.self)
            var length = 0
            guard snappy_uncompressed_length(source, input.count, &length) == SNAPPY_OK else { return nil }
            var output = [UInt8](repeating: 0, count: length)
            let status = output.withUnsafeMutableBytes { out in
                snappy_uncompress(source, input.count, out.baseAddress?.assumingMemoryBound(to: CChar.self), &length)
            }
            return status == SNAPPY_OK ? output : nil
        }
    }
}
