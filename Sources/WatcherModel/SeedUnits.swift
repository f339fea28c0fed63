public import WatcherProto

extension ResourceWatcher_V1_ComponentSample {
    /// The seed's resource figures in DESIGN §3 units (percent, MiB, KiB/s), in the seed's field
    /// order, converted from the batch's exact integers. Shared by the API views and the sinks.
    /// Beyond the seed's six: `gpu_memory_usage` (MiB) and `gpu_memory_usage_percent` where a GPU
    /// reports them (absent, never 0, without one), and the host's `load_average_1m`, `_5m`, `_15m`.
    public var seedResources: [(name: String, value: Double)] {
        var resources = [
            ("cpu_usage", Double(cpuUsageCentipercent) / 100),
            ("memory_usage", SeedUnits.rounded(Double(memoryUsageKib) / 1024, places: 1)),
            ("memory_usage_percent", Double(memoryUsageCentipercent) / 100),
            ("disk_usage", SeedUnits.rounded(Double(diskUsageKib) / 1024, places: 1)),
            ("network_in", SeedUnits.rounded(Double(networkInBytesPerSecond) / 1024, places: 1)),
            ("network_out", SeedUnits.rounded(Double(networkOutBytesPerSecond) / 1024, places: 1)),
        ]
        if hasGpuMemoryUsageKib {
            resources.append(("gpu_memory_usage", SeedUnits.rounded(Double(gpuMemoryUsageKib) / 1024, places: 1)))
        }
        if hasGpuMemoryUsageCentipercent {
            resources.append(("gpu_memory_usage_percent", Double(gpuMemoryUsageCentipercent) / 100))
        }
        if hasLoadAverage {
            resources.append(("load_average_1m", loadAverage.oneMinute))
            resources.append(("load_average_5m", loadAverage.fiveMinutes))
            resources.append(("load_average_15m", loadAverage.fifteenMinutes))
        }
        return resources
    }
}

/// Rounding for figures shown to people (the API, the orchestrator); exporters keep full precision.
public enum SeedUnits {
    /// `value` rounded half away from zero to `places` decimals.
    public static func rounded(_ value: Double, places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (value * scale).rounded() / scale
    }
}

extension ResourceWatcher_V1_Severity {
    /// "warning" or "critical", as the seed's alerts say.
    public var apiName: String { self == .critical ? "critical" : "warning" }
}

extension ResourceWatcher_V1_LogLevel {
    /// The level's lowercase name, as swift-log and Loki's `level` label spell it.
    public var apiName: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        default: "info"
        }
    }
}
