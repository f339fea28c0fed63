import WatcherModel
public import WatcherProto

/// Turns sample batches into Prometheus remote-write 1.0 `WriteRequest` bytes (DESIGN §7): the
/// seed's metric names in DESIGN §3 units, labels sorted by name with `__name__`, `instance` and
/// `job`, samples in time order per series, at most `maxSamplesPerRequest` per request, and a
/// staleness marker for every series of a component (or model) that goes away.
///
/// Encoding is the shipper's hot path, so it writes the protobuf wire format directly: each
/// series' labels are encoded once, when the series is first seen, and kept (the encoder is a
/// value with state across calls). The bytes decode as `Prometheus_WriteRequest` (tests check).
public struct RemoteWriteEncoder: Sendable {
    public let instance: String
    public let job: String
    public let maxSamplesPerRequest: Int

    /// A component, a model, a model loaded by a component's server, or a series kept from a
    /// component's metrics endpoint: the thing a group of series describes.
    private struct EntityKey: Hashable {
        enum Kind: Hashable { case component, model, loadedModel, custom, gpu }
        let kind: Kind
        let clientID: String
        let name: String
        /// The model's provider; the loaded model's name; the kept series' name; the GPU's index.
        let detail: String
        /// The kept series' own labels, or the GPU's, flattened name, value, name, value...
        var labels: [String] = []
    }

    /// Every entity seen, with its series' first id; series ids are `firstSeries + metric index`.
    private var entityIndex: [EntityKey: Int] = [:]
    private var entityFirstSeries: [Int] = []
    private var entityMetricCount: [Int] = []
    /// Per entity, the generation (batch number) it last had samples in, for staleness.
    private var entityLastSeen: [Int] = []
    /// Per series, its labels as encoded `Label` fields of a `TimeSeries`, and its tenant.
    private var seriesLabelBytes: [[UInt8]] = []
    private var seriesTenant: [String] = []
    /// Per series, whether it ever had a sample: only those get a staleness marker (a component
    /// without a GPU never had GPU series).
    private var seriesWritten: [Bool] = []
    private var generation = 0

    public init(instance: String, job: String = "resource-watcher", maxSamplesPerRequest: Int = 2000) {
        precondition(maxSamplesPerRequest > 0, "a request must hold at least one sample")
        self.instance = instance
        self.job = job
        self.maxSamplesPerRequest = maxSamplesPerRequest
    }

    /// The seed's model metrics: name and extra labels of each series of one model.
    static let modelMetrics: [(name: String, extraLabels: [(String, String)])] = SeedMetrics.models.map {
        ($0.name, $0.extraLabels)
    }

    /// A model's figures in `modelMetrics` order: requests, tokens in, tokens out, average latency (ms).
    static func modelValues(_ model: ResourceWatcher_V1_ModelUsage) -> [Double] {
        SeedMetrics.models.map { $0.value(model) }
    }

    /// Prometheus' staleness marker: a NaN with this exact bit pattern ends a series at once.
    public static let staleMarker = Double(bitPattern: 0x7FF0_0000_0000_0002)

    /// One encoded request: the uncompressed `WriteRequest` bytes, its sample count, and the
    /// tenant all its series belong to when encoding per tenant.
    public struct EncodedRequest: Sendable {
        public var bytes: [UInt8]
        public var sampleCount: Int
        public var tenant: String?
    }

    /// Samples of one encoding pass, per series id (arrays indexed by id), in first-seen order.
    private struct Collected {
        var order: [Int] = []
        var values: [[Double]] = []
        var times: [[Int64]] = []
        /// Samples a series will get at most in this pass (one per batch): reserved up front.
        let capacity: Int

        mutating func add(series: Int, value: Double, at time: Int64) {
            while values.count <= series {
                values.append([])
                times.append([])
            }
            if values[series].isEmpty {
                order.append(series)
                values[series].reserveCapacity(capacity)
                times[series].reserveCapacity(capacity)
            }
            values[series].append(value)
            times[series].append(time)
        }
    }

    /// Requests for `batches` (in sequence, hence time, order), one tenant per request when
    /// `perTenant`. Only the last request may hold fewer than `maxSamplesPerRequest` samples.
    public mutating func encode(_ batches: [ResourceWatcher_V1_Batch], perTenant: Bool) -> [EncodedRequest] {
        var collected = Collected(capacity: batches.count)
        for batch in batches {
            generation += 1
            let time = batch.timestampUnixMs
            for component in batch.components where component.status == .healthy || component.status == .degraded {
                let entity = entity(
                    EntityKey(kind: .component, clientID: component.clientID, name: component.name, detail: "")
                )
                entityLastSeen[entity] = generation
                let first = entityFirstSeries[entity]
                for (index, metric) in SeedMetrics.components.enumerated() {
                    guard let value = metric.value(component) else { continue }
                    seriesWritten[first + index] = true
                    collected.add(series: first + index, value: value, at: time)
                }
                for gpu in component.gpus {
                    let gpuEntity = self.entity(
                        EntityKey(
                            kind: .gpu,
                            clientID: component.clientID,
                            name: component.name,
                            detail: "\(gpu.index)",
                            labels: [gpu.name, gpu.vendor]
                        )
                    )
                    entityLastSeen[gpuEntity] = generation
                    for (index, metric) in SeedMetrics.gpus.enumerated() {
                        guard let value = metric.value(gpu) else { continue }
                        seriesWritten[entityFirstSeries[gpuEntity] + index] = true
                        collected.add(series: entityFirstSeries[gpuEntity] + index, value: value, at: time)
                    }
                }
                for loaded in component.loadedModels {
                    let loadedEntity = self.entity(
                        EntityKey(
                            kind: .loadedModel,
                            clientID: component.clientID,
                            name: component.name,
                            detail: loaded.name
                        )
                    )
                    entityLastSeen[loadedEntity] = generation
                    for (index, metric) in SeedMetrics.loadedModels.enumerated() {
                        collected.add(
                            series: entityFirstSeries[loadedEntity] + index,
                            value: metric.value(loaded),
                            at: time
                        )
                    }
                }
                for kept in component.customMetrics {
                    let labels = kept.labels.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
                    let keptEntity = self.entity(
                        EntityKey(
                            kind: .custom,
                            clientID: component.clientID,
                            name: component.name,
                            detail: kept.name,
                            labels: labels
                        )
                    )
                    entityLastSeen[keptEntity] = generation
                    collected.add(series: entityFirstSeries[keptEntity], value: kept.value, at: time)
                }
            }
            for model in batch.models {
                let entity = entity(
                    EntityKey(kind: .model, clientID: model.clientID, name: model.name, detail: model.provider)
                )
                entityLastSeen[entity] = generation
                let first = entityFirstSeries[entity]
                for (index, value) in Self.modelValues(model).enumerated() {
                    collected.add(series: first + index, value: value, at: time)
                }
            }
            // An entity sampled in the previous batch and not in this one is gone: end its series
            // (once: its last sighting stays a batch behind from now on).
            for entity in entityLastSeen.indices where entityLastSeen[entity] == generation - 1 {
                for series in entityFirstSeries[entity]..<entityFirstSeries[entity] + entityMetricCount[entity]
                where seriesWritten[series] {
                    collected.add(series: series, value: Self.staleMarker, at: time)
                }
            }
        }
        if !perTenant { return pack(collected.order, collected, tenant: nil) }
        var tenants: [String] = []
        var byTenant: [String: [Int]] = [:]
        for series in collected.order {
            let tenant = seriesTenant[series]
            if byTenant[tenant] == nil { tenants.append(tenant) }
            byTenant[tenant, default: []].append(series)
        }
        return tenants.flatMap { pack(byTenant[$0]!, collected, tenant: $0) }
    }

    /// `requests(for:)` decoded into messages, for tests and the benchmark's reference agent.
    public func requests(for batches: [ResourceWatcher_V1_Batch]) -> [Prometheus_WriteRequest] {
        var copy = self
        return copy.encode(batches, perTenant: false).compactMap {
            try? Prometheus_WriteRequest(serializedBytes: $0.bytes)
        }
    }

    /// The entity's index, registering it (and encoding its series' labels) the first time.
    private mutating func entity(_ key: EntityKey) -> Int {
        if let index = entityIndex[key] { return index }
        let index = entityFirstSeries.count
        entityIndex[key] = index
        entityFirstSeries.append(seriesLabelBytes.count)
        entityLastSeen.append(0)
        var series: [(name: String, pairs: [(String, String)])] = []
        switch key.kind {
        case .model:
            series = Self.modelMetrics.map { metric in
                (
                    metric.name,
                    [("client_id", key.clientID), ("model", key.name), ("provider", key.detail)] + metric.extraLabels
                )
            }
        case .component:
            series = SeedMetrics.components.map { ($0.name, [("client_id", key.clientID), ("component", key.name)]) }
        case .gpu:
            var gpu = ResourceWatcher_V1_GpuSample()
            gpu.index = UInt32(key.detail) ?? 0
            gpu.name = key.labels.first ?? ""
            gpu.vendor = key.labels.last ?? ""
            series = SeedMetrics.gpus.map {
                ($0.name, [("client_id", key.clientID), ("component", key.name)] + SeedMetrics.gpuLabels(gpu))
            }
        case .loadedModel:
            series = SeedMetrics.loadedModels.map {
                ($0.name, [("client_id", key.clientID), ("component", key.name), ("model", key.detail)])
            }
        case .custom:
            var metric = ResourceWatcher_V1_CustomMetric()
            metric.name = key.detail
            for index in stride(from: 0, to: key.labels.count - 1, by: 2) {
                metric.labels[key.labels[index]] = key.labels[index + 1]
            }
            series = [
                (
                    SeedMetrics.customMetricName(key.detail),
                    SeedMetrics.customMetricLabels(metric, clientID: key.clientID, component: key.name)
                )
            ]
        }
        entityMetricCount.append(series.count)
        for (name, pairs) in series {
            seriesLabelBytes.append(labelBytes(metric: name, pairs: pairs))
            seriesTenant.append(key.clientID)
            seriesWritten.append(key.kind != .component && key.kind != .gpu)
        }
        return index
    }

    /// `pairs` plus `__name__`, `instance` and `job`, empty values left out, sorted by name, as
    /// the `labels` fields (1) of a `TimeSeries`.
    private func labelBytes(metric: String, pairs: [(String, String)]) -> [UInt8] {
        let all = ([("__name__", metric), ("instance", instance), ("job", job)] + pairs)
            .filter { !$0.1.isEmpty }.sorted { $0.0 < $1.0 }
        var bytes: [UInt8] = []
        for (name, value) in all {
            var label: [UInt8] = []
            ProtobufWire.appendBytes(field: 1, Array(name.utf8), to: &label)
            ProtobufWire.appendBytes(field: 2, Array(value.utf8), to: &label)
            ProtobufWire.appendBytes(field: 1, label, to: &bytes)
        }
        return bytes
    }

    /// Packs series into requests of at most `maxSamplesPerRequest` samples, splitting a long
    /// series across requests in time order.
    private func pack(_ seriesOrder: [Int], _ collected: Collected, tenant: String?) -> [EncodedRequest] {
        var requests: [EncodedRequest] = []
        var current: [UInt8] = []
        var count = 0
        for series in seriesOrder {
            let values = collected.values[series]
            let times = collected.times[series]
            let labels = seriesLabelBytes[series]
            var start = 0
            while start < values.count {
                if count == maxSamplesPerRequest {
                    requests.append(EncodedRequest(bytes: current, sampleCount: count, tenant: tenant))
                    current = []
                    count = 0
                }
                if current.isEmpty { current.reserveCapacity(maxSamplesPerRequest * 20 + 4096) }
                let end = min(values.count, start + maxSamplesPerRequest - count)
                // TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; } as field 1
                // of WriteRequest, its length computed first so it is written in place.
                var length = labels.count
                for index in start..<end { length += 12 + ProtobufWire.varintLength(UInt64(bitPattern: times[index])) }
                current.append(0x0A)
                ProtobufWire.appendVarint(UInt64(length), to: &current)
                current.append(contentsOf: labels)
                for index in start..<end {
                    // Sample { double value = 1; int64 timestamp = 2; } as field 2 of TimeSeries.
                    let timestamp = UInt64(bitPattern: times[index])
                    current.append(0x12)
                    current.append(UInt8(10 + ProtobufWire.varintLength(timestamp)))
                    current.append(0x09)
                    withUnsafeBytes(of: values[index].bitPattern.littleEndian) { current.append(contentsOf: $0) }
                    current.append(0x10)
                    ProtobufWire.appendVarint(timestamp, to: &current)
                }
                count += end - start
                start = end
            }
        }
        if count > 0 { requests.append(EncodedRequest(bytes: current, sampleCount: count, tenant: tenant)) }
        return requests
    }
}
