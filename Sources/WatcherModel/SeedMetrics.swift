public import WatcherProto

/// The seed's component metrics (DESIGN §3 units), in one place for every exporter: the
/// remote-write encoder and the `/metrics` exposition name, describe and convert them alike.
public enum SeedMetrics {
    /// One component metric: its Prometheus name, a HELP text stating the unit, and how it is
    /// read (at full precision) from a sample; nil where the sample has no such figure (GPU
    /// memory without a GPU, load averages of anything but the host), and then no series.
    public struct ComponentMetric: Sendable {
        public let name: String
        public let help: String
        public let value: @Sendable (ResourceWatcher_V1_ComponentSample) -> Double?
    }

    public static let components: [ComponentMetric] = [
        ComponentMetric(
            name: "resource_watcher_component_cpu_usage",
            help:
                "CPU usage of the component in percent of its CPU capacity (cgroup limit, else all host cores) over the last interval",
            value: { Double($0.cpuUsageCentipercent) / 100 }
        ),
        ComponentMetric(
            name: "resource_watcher_component_memory_usage",
            help: "Memory used by the component in MiB",
            value: { Double($0.memoryUsageKib) / 1024 }
        ),
        ComponentMetric(
            name: "resource_watcher_component_memory_usage_percent",
            help: "Memory used by the component in percent of its limit, else of host MemTotal",
            value: { Double($0.memoryUsageCentipercent) / 100 }
        ),
        ComponentMetric(
            name: "resource_watcher_component_disk_usage",
            help: "Disk space the component occupies in MiB",
            value: { Double($0.diskUsageKib) / 1024 }
        ),
        ComponentMetric(
            name: "resource_watcher_component_network_in",
            help: "Network receive rate of the component in KiB/s",
            value: { Double($0.networkInBytesPerSecond) / 1024 }
        ),
        ComponentMetric(
            name: "resource_watcher_component_network_out",
            help: "Network transmit rate of the component in KiB/s",
            value: { Double($0.networkOutBytesPerSecond) / 1024 }
        ),
        ComponentMetric(
            name: "resource_watcher_component_gpu_memory_usage",
            help:
                "GPU memory held by the component's processes in MiB (the host: every GPU's memory used); absent without a GPU",
            value: { $0.hasGpuMemoryUsageKib ? Double($0.gpuMemoryUsageKib) / 1024 : nil }
        ),
        ComponentMetric(
            name: "resource_watcher_component_gpu_memory_usage_percent",
            help: "GPU memory held by the component in percent of the GPUs' total memory; absent without a GPU",
            value: { $0.hasGpuMemoryUsageCentipercent ? Double($0.gpuMemoryUsageCentipercent) / 100 : nil }
        ),
        ComponentMetric(
            name: "resource_watcher_component_load_average_1m",
            help: "The host's load average over 1 minute (/proc/loadavg); the host component only",
            value: { $0.hasLoadAverage ? $0.loadAverage.oneMinute : nil }
        ),
        ComponentMetric(
            name: "resource_watcher_component_load_average_5m",
            help: "The host's load average over 5 minutes (/proc/loadavg); the host component only",
            value: { $0.hasLoadAverage ? $0.loadAverage.fiveMinutes : nil }
        ),
        ComponentMetric(
            name: "resource_watcher_component_load_average_15m",
            help: "The host's load average over 15 minutes (/proc/loadavg); the host component only",
            value: { $0.hasLoadAverage ? $0.loadAverage.fifteenMinutes : nil }
        ),
    ]

    /// One figure of a GPU (the host's), labelled `client_id`, `component` (host), `gpu` (index),
    /// `vendor` and `name`; nil where the driver does not report it (no series then).
    public struct GPUMetric: Sendable {
        public let name: String
        public let help: String
        public let value: @Sendable (ResourceWatcher_V1_GpuSample) -> Double?
    }

    public static let gpus: [GPUMetric] = [
        GPUMetric(
            name: "resource_watcher_gpu_utilization_percent",
            help: "Percent of the last sample period the GPU was busy",
            value: { $0.hasUtilizationPercent ? $0.utilizationPercent : nil }
        ),
        GPUMetric(
            name: "resource_watcher_gpu_memory_used",
            help: "GPU memory in use in MiB",
            value: { $0.hasMemoryUsedBytes ? Double($0.memoryUsedBytes) / 1_048_576 : nil }
        ),
        GPUMetric(
            name: "resource_watcher_gpu_memory_total",
            help: "GPU memory in total in MiB",
            value: { $0.hasMemoryTotalBytes ? Double($0.memoryTotalBytes) / 1_048_576 : nil }
        ),
        GPUMetric(
            name: "resource_watcher_gpu_temperature_celsius",
            help: "GPU temperature in degrees Celsius",
            value: { $0.hasTemperatureCelsius ? $0.temperatureCelsius : nil }
        ),
        GPUMetric(
            name: "resource_watcher_gpu_power_watts",
            help: "GPU power draw in watts",
            value: { $0.hasPowerWatts ? $0.powerWatts : nil }
        ),
    ]

    /// A GPU series' labels beside `client_id` and `component`.
    public static func gpuLabels(_ gpu: ResourceWatcher_V1_GpuSample) -> [(String, String)] {
        [("gpu", "\(gpu.index)"), ("name", gpu.name), ("vendor", gpu.vendor)]
    }

    /// One series of a model's usage: its Prometheus name, the family it belongs to (for HELP
    /// and TYPE), the labels beside the model's own (`client_id`, `model`, `provider`), and how
    /// it is read from the totals.
    public struct ModelSeries: Sendable {
        /// The family's type on `/metrics`: the seed's cumulative `_count` names are `untyped`
        /// (promtool refuses a counter or gauge named `_count` without `_total`).
        public enum Exposition: String, Sendable { case untyped, gauge, counter, histogram, summary }

        public let name: String
        public let family: String
        public let help: String
        public let extraLabels: [(String, String)]
        public let exposition: Exposition
        public let value: @Sendable (ResourceWatcher_V1_ModelUsage) -> Double

        init(
            name: String,
            family: String? = nil,
            help: String,
            extraLabels: [(String, String)] = [],
            exposition: Exposition,
            value: @escaping @Sendable (ResourceWatcher_V1_ModelUsage) -> Double
        ) {
            self.name = name
            self.family = family ?? name
            self.help = help
            self.extraLabels = extraLabels
            self.exposition = exposition
            self.value = value
        }
    }

    /// One HELP for both directions' series of `resource_watcher_model_tokens_processed`.
    private static let tokensHelp =
        "Tokens processed by the model since the agent started, by direction (input or output; a counter)"

    private static let durationFamily = "resource_watcher_model_request_duration_seconds"
    private static let durationHelp =
        "Latency of the model's requests measured exactly (metering proxy to the last byte, POST /v1/usage latency_ms), in seconds"
    private static let firstByteFamily = "resource_watcher_model_time_to_first_byte_seconds"
    private static let firstByteHelp =
        "Time to the first byte of the model's streamed responses through the metering proxy, in seconds"
    private static let inferenceFamily = "resource_watcher_model_inference_seconds"
    private static let inferenceHelp =
        "The model server's own time for its requests where it reports one (Ollama total_duration, vLLM and TGI request duration), in seconds"

    /// The model's exactly measured latencies as a cumulative histogram: bucket `index`
    /// counts the requests at or under `ModelLatencyBuckets.upperBoundsSeconds[index]`.
    private static func cumulativeBucket(_ index: Int, _ model: ResourceWatcher_V1_ModelUsage) -> Double {
        Double(model.latencyBucketCounts.prefix(index + 1).reduce(UInt64(0)) { $0 &+ $1 })
    }

    /// The seed's model metrics, then the histogram and the summaries, one entry per series.
    public static let models: [ModelSeries] =
        [
            ModelSeries(
                name: "resource_watcher_model_request_count",
                help: "Requests made to the model since the agent started (a counter)",
                exposition: .untyped,
                value: { Double($0.requestsCount) }
            ),
            ModelSeries(
                name: "resource_watcher_model_tokens_processed",
                help: tokensHelp,
                extraLabels: [("direction", "input")],
                exposition: .untyped,
                value: { Double($0.tokensInput) }
            ),
            ModelSeries(
                name: "resource_watcher_model_tokens_processed",
                help: tokensHelp,
                extraLabels: [("direction", "output")],
                exposition: .untyped,
                value: { Double($0.tokensOutput) }
            ),
            ModelSeries(
                name: "resource_watcher_model_latency",
                help: "Average request latency of the model in milliseconds since the agent started",
                exposition: .gauge,
                value: { UsageLedger.averageLatencyMilliseconds($0) }
            ),
            ModelSeries(
                name: "resource_watcher_model_requests_tokens_unknown_total",
                help:
                    "Requests counted without token figures (an OpenAI stream without stream_options.include_usage, a response cut short)",
                exposition: .counter,
                value: { Double($0.requestsTokensUnknown) }
            ),
        ]
        + ModelLatencyBuckets.upperBoundsSeconds.indices.map { index in
            ModelSeries(
                name: durationFamily + "_bucket",
                family: durationFamily,
                help: durationHelp,
                extraLabels: [("le", "\(ModelLatencyBuckets.upperBoundsSeconds[index])")],
                exposition: .histogram,
                value: { cumulativeBucket(index, $0) }
            )
        }
        + [
            ModelSeries(
                name: durationFamily + "_bucket",
                family: durationFamily,
                help: durationHelp,
                extraLabels: [("le", "+Inf")],
                exposition: .histogram,
                value: { cumulativeBucket(ModelLatencyBuckets.upperBoundsSeconds.count, $0) }
            ),
            ModelSeries(
                name: durationFamily + "_sum",
                family: durationFamily,
                help: durationHelp,
                exposition: .histogram,
                value: { Double($0.histogramSumMicroseconds) / 1_000_000 }
            ),
            ModelSeries(
                name: durationFamily + "_count",
                family: durationFamily,
                help: durationHelp,
                exposition: .histogram,
                value: { cumulativeBucket(ModelLatencyBuckets.upperBoundsSeconds.count, $0) }
            ),
            ModelSeries(
                name: firstByteFamily + "_sum",
                family: firstByteFamily,
                help: firstByteHelp,
                exposition: .summary,
                value: { Double($0.firstByteMicrosecondsSum) / 1_000_000 }
            ),
            ModelSeries(
                name: firstByteFamily + "_count",
                family: firstByteFamily,
                help: firstByteHelp,
                exposition: .summary,
                value: { Double($0.firstByteCount) }
            ),
            ModelSeries(
                name: inferenceFamily + "_sum",
                family: inferenceFamily,
                help: inferenceHelp,
                exposition: .summary,
                value: { Double($0.inferenceMicrosecondsSum) / 1_000_000 }
            ),
            ModelSeries(
                name: inferenceFamily + "_count",
                family: inferenceFamily,
                help: inferenceHelp,
                exposition: .summary,
                value: { Double($0.inferenceCount) }
            ),
        ]
}

extension SeedMetrics {
    /// One figure of a model an Ollama server holds in memory (`/api/ps`), labelled with the
    /// component's `client_id` and `component` and the `model`.
    public struct LoadedModelMetric: Sendable {
        public let name: String
        public let help: String
        public let value: @Sendable (ResourceWatcher_V1_LoadedModel) -> Double
    }

    public static let loadedModels: [LoadedModelMetric] = [
        LoadedModelMetric(
            name: "resource_watcher_model_loaded_bytes",
            help: "Bytes a model the component's Ollama server holds in memory occupies (/api/ps size)",
            value: { Double($0.sizeBytes) }
        ),
        LoadedModelMetric(
            name: "resource_watcher_model_loaded_vram_bytes",
            help: "Bytes of a loaded model held in GPU memory (/api/ps size_vram)",
            value: { Double($0.sizeVramBytes) }
        ),
    ]

    /// The name a kept series is exported under: its own, with colons as underscores (colons
    /// are reserved for recording rules, and promtool refuses them in an exposition):
    /// `vllm:num_requests_running` becomes `vllm_num_requests_running`.
    public static func customMetricName(_ name: String) -> String {
        String(name.map { $0 == ":" ? "_" : $0 })
    }

    /// A kept series' labels: the component's `client_id` and `component`, then the scraped
    /// labels in name order; a scraped label named like one of ours becomes `exported_<name>`
    /// (as Prometheus does without honor_labels), so a component cannot claim another tenant.
    public static func customMetricLabels(
        _ metric: ResourceWatcher_V1_CustomMetric,
        clientID: String,
        component: String
    ) -> [(String, String)] {
        let own: Set<String> = ["client_id", "component", "instance", "job"]
        return [("client_id", clientID), ("component", component)]
            + metric.labels.sorted { $0.key < $1.key }.map {
                own.contains($0.key) ? ("exported_" + $0.key, $0.value) : ($0.key, $0.value)
            }
    }
}
