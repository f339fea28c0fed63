import WatcherModel

/// Turns successive one-shot stats documents into `docker stats` figures.
///
/// One-shot documents carry an empty `precpu_stats`, so CPU and network rates are deltas against
/// this calculator's own previous sample of the same container, kept by container ID. The
/// formulas are static and pure; the instance only remembers the previous samples.
struct DockerStatsCalculator: Sendable {
    /// A stats document and when the caller took it (network rates divide by this interval).
    struct Sample: Sendable, Equatable {
        var stats: DockerStats
        var takenAt: ContinuousClock.Instant
    }

    private var previous: [String: Sample] = [:]

    init() {}

    /// The figures of `container` from `stats` taken at `now`, against the previous sample of
    /// the same container; remembers this one for next time. A container that is not running
    /// drops its previous sample, so after a restart rates start afresh.
    mutating func figures(
        for container: DockerContainer,
        stats: DockerStats,
        sizeRwBytes: Int64? = nil,
        at now: ContinuousClock.Instant
    ) -> DockerContainerFigures {
        let current = Sample(stats: stats, takenAt: now)
        let figures = Self.figures(
            for: container,
            previous: previous[container.id],
            current: current,
            sizeRwBytes: sizeRwBytes
        )
        previous[container.id] = container.isRunning ? current : nil
        return figures
    }

    /// Forgets containers not in `ids` (removed since), so the table does not grow.
    mutating func retainOnly(_ ids: Set<String>) {
        previous = previous.filter { ids.contains($0.key) }
    }

    /// The figures from two samples; `previous` nil (first sample) leaves the rates nil.
    static func figures(
        for container: DockerContainer,
        previous: Sample?,
        current: Sample,
        sizeRwBytes: Int64? = nil
    ) -> DockerContainerFigures {
        let stats = current.stats
        let memory = memoryUsageBytes(stats)
        let network = stats.networkTotals
        var figures = DockerContainerFigures(
            containerID: container.id,
            name: container.name,
            isRunning: container.isRunning,
            cpuPercentOfOneCore: nil,
            onlineCPUs: stats.onlineCPUs,
            memoryUsageBytes: memory,
            memoryLimitBytes: stats.memoryLimitBytes,
            memoryPercent: stats.memoryLimitBytes.flatMap { $0 > 0 ? Double(memory) / Double($0) * 100 : nil },
            networkRxBytes: network.received,
            networkTxBytes: network.transmitted,
            networkRxBytesPerSecond: nil,
            networkTxBytesPerSecond: nil,
            blockReadBytes: stats.blockReadBytes,
            blockWriteBytes: stats.blockWriteBytes,
            processCount: stats.processCount,
            sizeRwBytes: sizeRwBytes
        )
        guard container.isRunning, let previous else {
            // No sample of ours yet: the engine's own previous reading (`precpu_stats`, filled
            // when stats are taken without one-shot) gives the CPU figure right away.
            if container.isRunning, stats.previousCPUTotalUsageNanoseconds > 0,
                stats.previousSystemCPUUsageNanoseconds ?? 0 > 0
            {
                var engineReading = stats
                engineReading.cpuTotalUsageNanoseconds = stats.previousCPUTotalUsageNanoseconds
                engineReading.systemCPUUsageNanoseconds = stats.previousSystemCPUUsageNanoseconds
                figures.cpuPercentOfOneCore = cpuPercentOfOneCore(previous: engineReading, current: stats)
            }
            return figures
        }
        figures.cpuPercentOfOneCore = cpuPercentOfOneCore(previous: previous.stats, current: stats)
        // The engine's read times when both documents have them: the engine reads on its own
        // one-second beat, so when the answer arrived can be up to a second off when it was read.
        let seconds: Double
        if let before = previous.stats.readUnixNanoseconds, let now = stats.readUnixNanoseconds, now > before {
            seconds = Double(now - before) / 1e9
        } else {
            seconds = (current.takenAt - previous.takenAt).inSeconds
        }
        let before = previous.stats.networkTotals
        if seconds > 0, network.received >= before.received, network.transmitted >= before.transmitted {
            figures.networkRxBytesPerSecond = Double(network.received - before.received) / seconds
            figures.networkTxBytesPerSecond = Double(network.transmitted - before.transmitted) / seconds
        }
        return figures
    }

    /// `docker stats`' memory: usage less inactive page cache, which the kernel reclaims first.
    /// cgroup v1 documents have `total_inactive_file` (hierarchical), v2 ones `inactive_file`;
    /// a figure not below usage is ignored (the docker CLI's `calculateMemUsageUnixNoCache`).
    static func memoryUsageBytes(_ stats: DockerStats) -> UInt64 {
        guard let usage = stats.memoryUsageBytes else { return 0 }
        if let inactive = stats.memoryStatistics["total_inactive_file"], inactive < usage { return usage - inactive }
        if let inactive = stats.memoryStatistics["inactive_file"], inactive < usage { return usage - inactive }
        return usage
    }

    /// `docker stats`' CPU: (container CPU delta / host CPU delta) × online CPUs × 100, i.e. the
    /// cores the container kept busy, in percent of one core. Nil when a counter is missing or
    /// went backwards (restart), or the host counter did not advance.
    static func cpuPercentOfOneCore(previous: DockerStats, current: DockerStats) -> Double? {
        guard let systemBefore = previous.systemCPUUsageNanoseconds,
            let systemNow = current.systemCPUUsageNanoseconds, systemNow > systemBefore,
            current.cpuTotalUsageNanoseconds >= previous.cpuTotalUsageNanoseconds,
            let cpus = current.onlineCPUs
        else { return nil }
        let cpuDelta = Double(current.cpuTotalUsageNanoseconds - previous.cpuTotalUsageNanoseconds)
        return cpuDelta / Double(systemNow - systemBefore) * Double(cpus) * 100
    }

}
