public import WatcherProto

extension ResourceWatcher_V1_ComponentStatus {
    /// The seed API's word for the status: healthy, degraded, down or unknown.
    public var apiName: String {
        switch self {
        case .healthy: "healthy"
        case .degraded: "degraded"
        case .down: "down"
        default: "unknown"
        }
    }
}

extension ResourceWatcher_V1_AlertType {
    /// The seed API's alert_type.
    public var apiName: String {
        switch self {
        case .highCpuUsage: "high_cpu_usage"
        case .highMemoryUsage: "high_memory_usage"
        case .highDiskUsage: "high_disk_usage"
        case .componentDown: "component_down"
        case .highGpuMemoryUsage: "high_gpu_memory_usage"
        default: "unknown"
        }
    }
}
