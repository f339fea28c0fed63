/// Every GPU seen by one read, and the GPU memory each process holds.
public struct GPUSnapshot: Sendable, Equatable {
    /// NVIDIA GPUs in NVML index order, then AMD GPUs in card order; empty when none answered.
    public var gpus: [GPUFigures]
    /// GPU memory per PID from NVML, summed over the GPUs the process uses. AMD GPUs add
    /// nothing: their sysfs files have no per-process figures.
    public var processMemoryBytes: [Int32: UInt64]

    /// A snapshot of the given figures.
    public init(gpus: [GPUFigures] = [], processMemoryBytes: [Int32: UInt64] = [:]) {
        self.gpus = gpus
        self.processMemoryBytes = processMemoryBytes
    }
}
