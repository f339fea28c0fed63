/// One container's figures at one sample, as `docker stats` computes them, plus the raw parts a
/// caller needs to normalise CPU to DESIGN §3's "percent of the component's capacity".
struct DockerContainerFigures: Sendable, Equatable {
    var containerID: String
    /// The name without its leading "/".
    var name: String
    var isRunning: Bool
    /// CPU as `docker stats` prints it: percent of one core (200 = two cores busy), over the
    /// interval since this calculator's previous sample of the container. Nil on the first
    /// sample, when not running, and when the counters went backwards (a restart).
    var cpuPercentOfOneCore: Double?
    /// The CPUs the engine reports online (`online_cpus`, or older engines' `percpu_usage` count).
    var onlineCPUs: Int?
    /// `usage` less inactive page cache (`total_inactive_file` on cgroup v1, `inactive_file` on
    /// v2), like `docker stats`; 0 when the engine gave no memory figures (not running).
    var memoryUsageBytes: UInt64
    /// `memory_stats.limit`: the container's limit, or the host's memory when it has none.
    var memoryLimitBytes: UInt64?
    /// `memoryUsageBytes / memoryLimitBytes * 100`; nil without a limit figure.
    var memoryPercent: Double?
    /// Received bytes summed over the container's interfaces, cumulative.
    var networkRxBytes: UInt64
    /// Transmitted bytes summed over the container's interfaces, cumulative.
    var networkTxBytes: UInt64
    /// Receive rate since the previous sample; nil on the first one or after a counter reset.
    var networkRxBytesPerSecond: Double?
    /// Transmit rate since the previous sample; nil on the first one or after a counter reset.
    var networkTxBytesPerSecond: Double?
    /// Block I/O read and written, cumulative (`io_service_bytes_recursive`).
    var blockReadBytes: UInt64
    var blockWriteBytes: UInt64
    var processCount: UInt64?
    /// The writable layer's size, when the caller inspected it (`SizeRw`).
    var sizeRwBytes: Int64?

    /// CPU as DESIGN §3 defines it: percent of the container's CPU limit in cores when it has
    /// one (`DockerContainerDetails.cpuLimitCores`), else of all online CPUs; within 0–100.
    func cpuPercentOfCapacity(limitCores: Double?) -> Double? {
        guard let percent = cpuPercentOfOneCore, let capacity = limitCores ?? onlineCPUs.map(Double.init), capacity > 0
        else { return nil }
        return min(100, max(0, percent / capacity))
    }
}
