import WatcherModel
import WatcherProto

/// The resources whose usage raises a threshold alert, in the order their alert types are
/// numbered (and so the order alerts are listed in).
enum AlertResource: Sendable, CaseIterable {
    case cpu
    case memory
    case disk
    case gpuMemory

    /// The alert type this resource raises.
    var alertType: ResourceWatcher_V1_AlertType {
        switch self {
        case .cpu: .highCpuUsage
        case .memory: .highMemoryUsage
        case .disk: .highDiskUsage
        case .gpuMemory: .highGpuMemoryUsage
        }
    }

    /// The word used in alert messages.
    var label: String {
        switch self {
        case .cpu: "cpu"
        case .memory: "memory"
        case .disk: "disk"
        case .gpuMemory: "GPU memory"
        }
    }

    /// This resource's levels under `thresholds` (a component's, overrides applied).
    func levels(from thresholds: AlertThresholds) -> AlertLevels {
        switch self {
        case .cpu: AlertLevels(warningPercent: thresholds.cpuThresholdPercent, thresholds: thresholds)
        case .memory: AlertLevels(warningPercent: thresholds.memoryThresholdPercent, thresholds: thresholds)
        case .disk: AlertLevels(warningPercent: thresholds.diskThresholdPercent, thresholds: thresholds)
        case .gpuMemory: AlertLevels(warningPercent: thresholds.gpuMemoryThresholdPercent, thresholds: thresholds)
        }
    }

    /// The observed value in hundredths of a percent, or nil when this tick has no figure for it
    /// (disk percent comes from a slower, separate walk and may be absent; GPU memory exists only
    /// where a GPU reports it).
    func valueCenti(in sample: ResourceWatcher_V1_ComponentSample, diskUsedPercent: Double?) -> Int64? {
        switch self {
        case .cpu: Int64(sample.cpuUsageCentipercent)
        case .memory: Int64(sample.memoryUsageCentipercent)
        case .disk: diskUsedPercent.map(AlertLevels.centi)
        case .gpuMemory: sample.hasGpuMemoryUsageCentipercent ? Int64(sample.gpuMemoryUsageCentipercent) : nil
        }
    }
}
