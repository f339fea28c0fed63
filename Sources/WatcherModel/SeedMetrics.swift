public import WatcherProto

/// The seed's component metrics (DESIGN §3 units), in one place for every exporter: the
/// remote-write encoder and the `/metrics` exposition name, describe and convert them alike.
public enum SeedMetrics {
    /// One component metric: its Prometheus name, a HELP text stating the unit, and how it is
    /// read (at full precision) from a sample.
    public struct ComponentMetric: Sendable {
        public let name: String
        public let help: String
        public let value: @Sendable (ResourceWatcher_V1_ComponentSample) -> Double
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
    ]

    /// One series of a model's usage: its Prometheus name, a HELP text, the labels beside the
    /// model's own (`client_id`, `model`, `provider`), and how it is read from the totals.
    public struct ModelSeries: Sendable {
        /// How `/metrics` exposes it: the seed's cumulative `_count` names as `untyped` (promtool
        /// refuses a counter or gauge named `_count` without `_total`), the average as a gauge.
        public enum Exposition: Sendable { case untyped, gauge }

        public let name: String
        public let help: String
        public let extraLabels: [(String, String)]
        public let exposition: Exposition
        public let value: @Sendable (ResourceWatcher_V1_ModelUsage) -> Double
    }

    /// One HELP for both directions' series of `resource_watcher_model_tokens_processed`.
    private static let tokensHelp =
        "Tokens processed by the model since the agent started, by direction (input or output; a counter)"

    /// The seed's model metrics, one entry per series of a model.
    public static let models: [ModelSeries] = [
        ModelSeries(
            name: "resource_watcher_model_request_count",
            help: "Requests made to the model since the agent started (a counter)",
            extraLabels: [],
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
            extraLabels: [],
            exposition: .gauge,
            value: { UsageLedger.averageLatencyMilliseconds($0) }
        ),
    ]
}
