/// A component's own `alerts`: the keys of the global `alerts` block, each optional; a nil
/// value falls back to the global one (see `AlertThresholds.applying(_:)`).
public struct AlertThresholdOverrides: Sendable, Equatable {
    /// Overrides `cpu_threshold_percent`.
    public var cpuThresholdPercent: Double?
    /// Overrides `memory_threshold_percent`.
    public var memoryThresholdPercent: Double?
    /// Overrides `disk_threshold_percent`.
    public var diskThresholdPercent: Double?
    /// Overrides `gpu_memory_threshold_percent`.
    public var gpuMemoryThresholdPercent: Double?
    /// Overrides `critical_threshold_percent`.
    public var criticalThresholdPercent: Double?
    /// Overrides `for_samples`.
    public var forSamples: Int?
    /// Overrides `hysteresis_percent`.
    public var hysteresisPercent: Double?

    /// Overrides nothing unless told.
    public init(
        cpuThresholdPercent: Double? = nil,
        memoryThresholdPercent: Double? = nil,
        diskThresholdPercent: Double? = nil,
        gpuMemoryThresholdPercent: Double? = nil,
        criticalThresholdPercent: Double? = nil,
        forSamples: Int? = nil,
        hysteresisPercent: Double? = nil
    ) {
        self.cpuThresholdPercent = cpuThresholdPercent
        self.memoryThresholdPercent = memoryThresholdPercent
        self.diskThresholdPercent = diskThresholdPercent
        self.gpuMemoryThresholdPercent = gpuMemoryThresholdPercent
        self.criticalThresholdPercent = criticalThresholdPercent
        self.forSamples = forSamples
        self.hysteresisPercent = hysteresisPercent
    }

    /// True when no threshold is overridden.
    public var isEmpty: Bool { self == AlertThresholdOverrides() }
}
