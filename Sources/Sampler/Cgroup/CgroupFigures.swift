/// Resource figures of one cgroup, each nil when the host does not provide it.
///
/// Counters (CPU time, I/O bytes) are cumulative; the sampler turns them into rates between ticks.
struct CgroupFigures: Equatable, Sendable {
    /// CPU time used by the cgroup and its descendants: v2 `cpu.stat` usage_usec × 1000,
    /// v1 `cpuacct.usage`.
    var cpuUsageNanoseconds: UInt64?
    /// The CFS bandwidth limit in cores (quota ÷ period); nil when unlimited.
    var cpuLimitCores: Double?
    /// Memory in use without the inactive file cache, as `docker stats` reports it: the kernel
    /// can drop that cache at will, so counting it would make idle containers look full.
    var memoryUsageBytes: UInt64?
    /// The hard memory limit; nil when unlimited.
    var memoryLimitBytes: UInt64?
    /// Bytes read from block devices, summed over devices.
    var ioReadBytes: UInt64?
    /// Bytes written to block devices, summed over devices.
    var ioWriteBytes: UInt64?
    /// Tasks (threads) in the cgroup and its descendants, `pids.current`; read only when asked.
    var processCount: UInt64?

    /// Memory usage as a percentage of the limit (DESIGN.md §3 `memory_usage_percent`); nil
    /// without a limit, when the caller falls back to host MemTotal.
    var memoryPercentOfLimit: Double? {
        guard let usage = memoryUsageBytes, let limit = memoryLimitBytes, limit > 0 else { return nil }
        return Double(usage) / Double(limit) * 100
    }

    init(
        cpuUsageNanoseconds: UInt64? = nil,
        cpuLimitCores: Double? = nil,
        memoryUsageBytes: UInt64? = nil,
        memoryLimitBytes: UInt64? = nil,
        ioReadBytes: UInt64? = nil,
        ioWriteBytes: UInt64? = nil,
        processCount: UInt64? = nil
    ) {
        self.cpuUsageNanoseconds = cpuUsageNanoseconds
        self.cpuLimitCores = cpuLimitCores
        self.memoryUsageBytes = memoryUsageBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.ioReadBytes = ioReadBytes
        self.ioWriteBytes = ioWriteBytes
        self.processCount = processCount
    }
}
