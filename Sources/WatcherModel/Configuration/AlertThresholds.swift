/// When resource alerts fire and resolve (`alerts`): `warning` at a resource's threshold,
/// `critical` at `criticalThresholdPercent`, after `forSamples` consecutive samples over it;
/// resolved once the value is `hysteresisPercent` points below the threshold.
public struct AlertThresholds: Sendable, Equatable {
    /// CPU percent that raises `high_cpu_usage` (`cpu_threshold_percent`).
    public var cpuThresholdPercent: Double
    /// Memory percent that raises `high_memory_usage` (`memory_threshold_percent`).
    public var memoryThresholdPercent: Double
    /// Disk percent that raises `high_disk_usage` (`disk_threshold_percent`).
    public var diskThresholdPercent: Double
    /// GPU memory percent that raises `high_gpu_memory_usage` (`gpu_memory_threshold_percent`):
    /// of the GPUs' total memory, for a component the memory its processes hold.
    public var gpuMemoryThresholdPercent: Double
    /// Percent at which any of them becomes `critical` (`critical_threshold_percent`).
    public var criticalThresholdPercent: Double
    /// Consecutive samples over a threshold before an alert fires (`for_samples`).
    public var forSamples: Int
    /// Points below the threshold a value must fall to resolve an alert (`hysteresis_percent`).
    public var hysteresisPercent: Double

    /// 80 / 80 / 90 / 90 (GPU memory) percent, critical at 95, 2 samples, 5 points of hysteresis.
    public init(
        cpuThresholdPercent: Double = 80,
        memoryThresholdPercent: Double = 80,
        diskThresholdPercent: Double = 90,
        gpuMemoryThresholdPercent: Double = 90,
        criticalThresholdPercent: Double = 95,
        forSamples: Int = 2,
        hysteresisPercent: Double = 5
    ) {
        self.cpuThresholdPercent = cpuThresholdPercent
        self.memoryThresholdPercent = memoryThresholdPercent
        self.diskThresholdPercent = diskThresholdPercent
        self.gpuMemoryThresholdPercent = gpuMemoryThresholdPercent
        self.criticalThresholdPercent = criticalThresholdPercent
        self.forSamples = forSamples
        self.hysteresisPercent = hysteresisPercent
    }

    /// These thresholds with every value `overrides` sets replaced.
    public func applying(_ overrides: AlertThresholdOverrides) -> AlertThresholds {
        AlertThresholds(
            cpuThresholdPercent: overrides.cpuThresholdPercent ?? cpuThresholdPercent,
            memoryThresholdPercent: overrides.memoryThresholdPercent ?? memoryThresholdPercent,
            diskThresholdPercent: overrides.diskThresholdPercent ?? diskThresholdPercent,
            gpuMemoryThresholdPercent: overrides.gpuMemoryThresholdPercent ?? gpuMemoryThresholdPercent,
            criticalThresholdPercent: overrides.criticalThresholdPercent ?? criticalThresholdPercent,
            forSamples: overrides.forSamples ?? forSamples,
            hysteresisPercent: overrides.hysteresisPercent ?? hysteresisPercent
        )
    }
}
