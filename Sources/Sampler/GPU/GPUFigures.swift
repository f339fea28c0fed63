/// One GPU's figures from one read. A figure the driver does not report (or failed to report)
/// is nil, never 0.
public struct GPUFigures: Sendable, Equatable {
    /// Who made it: "nvidia" or "amd".
    public var vendor: String
    /// NVML's device index, or the N of `/sys/class/drm/cardN`.
    public var index: Int
    /// The product name ("NVIDIA A100-SXM4-40GB"), or a made-up one when the driver has none.
    public var name: String
    /// NVML's stable identifier ("GPU-…"); nil for AMD GPUs.
    public var uuid: String?
    /// Share of the last sample period the GPU was busy, 0–100.
    public var utilizationPercent: Double?
    /// Device memory in use, in bytes.
    public var memoryUsedBytes: UInt64?
    /// Device memory installed, in bytes.
    public var memoryTotalBytes: UInt64?
    /// Core temperature in degrees Celsius.
    public var temperatureCelsius: Double?
    /// Power draw in watts.
    public var powerWatts: Double?

    /// Figures with only the identity set; the reader fills in what the driver answers.
    public init(
        vendor: String,
        index: Int,
        name: String,
        uuid: String? = nil,
        utilizationPercent: Double? = nil,
        memoryUsedBytes: UInt64? = nil,
        memoryTotalBytes: UInt64? = nil,
        temperatureCelsius: Double? = nil,
        powerWatts: Double? = nil
    ) {
        self.vendor = vendor
        self.index = index
        self.name = name
        self.uuid = uuid
        self.utilizationPercent = utilizationPercent
        self.memoryUsedBytes = memoryUsedBytes
        self.memoryTotalBytes = memoryTotalBytes
        self.temperatureCelsius = temperatureCelsius
        self.powerWatts = powerWatts
    }
}
