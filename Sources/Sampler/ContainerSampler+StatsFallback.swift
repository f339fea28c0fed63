import Synchronization
import WatcherModel
import WatcherProto

/// The stats endpoint as a fallback: a running container whose cgroup the agent cannot read (no
/// access to the host's cgroup tree, another cgroup namespace, /proc hiding the process) is
/// sampled from the engine's one-shot stats with the `docker stats` formulas, within what is
/// left of the tick's engine budget. Each such container is logged once (warning), naming why.
extension ContainerSampler {
    func sampleFromStats(
        _ items: [(component: Component, entry: ContainerTable.Entry, reason: String)],
        within remaining: Duration,
        budget: Duration,
        into plan: inout ContainerTickPlan
    ) async {
        for item in items {
            let first = statsFallbackLogged.withLock { $0.insert(item.entry.summary.id).inserted }
            if first {
                logger.warning(
                    "container figures from the Docker engine's stats endpoint: its cgroup cannot be read",
                    metadata: [
                        "component": "\(item.component.name)", "container": "\(item.entry.summary.name)",
                        "reason": "\(item.reason)",
                    ]
                )
            }
        }
        let collected = CollectedSamples()
        let lanes = self.lanes
        if remaining > .zero {
            _ = await within(remaining) {
                await withTaskGroup(of: Void.self) { group in
                    for (laneIndex, client) in lanes.enumerated() {
                        let share = stride(from: laneIndex, to: items.count, by: lanes.count).map { items[$0] }
                        guard !share.isEmpty else { continue }
                        group.addTask {
                            for item in share {
                                if Task.isCancelled { return }
                                if let sample = await self.statsSample(item.component, item.entry, using: client) {
                                    collected.samples.withLock { $0[sample.name] = sample }
                                }
                            }
                        }
                    }
                }
            }
        }
        let samples = collected.samples.withLock { $0 }
        for item in items {
            if let sample = samples[item.component.name] {
                // A PID the agent cannot see is no PID of its /proc: the engine's network figures stay.
                let visible = invisibleProcesses.withLock { $0[item.entry.summary.id] } != item.entry.pid
                plan.take(fallback: sample, pid: visible ? item.entry.pid : nil)
            } else {
                var late = Self.emptySample(item.component)
                late.status = .unknown
                late.statusReason = "the Docker engine did not send this container's stats within \(budget.inSeconds) s"
                plan.take(fallback: late, pid: nil)
            }
        }
    }

    private func statsSample(
        _ component: Component,
        _ entry: ContainerTable.Entry,
        using client: DockerClient
    ) async -> ResourceWatcher_V1_ComponentSample? {
        let stats: DockerStats
        do {
            stats = try await client.stats(id: entry.summary.id)
            noteEngine(.answered)
        } catch {
            logger.debug(
                "cannot read container stats",
                metadata: [
                    "component": "\(component.name)", "container_id": "\(entry.summary.id)", "error": "\(error)",
                ]
            )
            return nil
        }
        let figures = calculator.withLock { $0.figures(for: entry.summary, stats: stats, at: .now) }
        var sample = Self.emptySample(component)
        sample.status = .healthy
        if let percent = figures.cpuPercentOfCapacity(limitCores: entry.cpuLimitCores) {
            sample.cpuUsageCentipercent = OutsideNumber.uint32(percent * 100)
        }
        sample.memoryUsageKib = figures.memoryUsageBytes / 1024
        if let percent = figures.memoryPercent {
            sample.memoryUsageCentipercent = OutsideNumber.centipercent(percent)
        }
        sample.processCount = UInt32(clamping: figures.processCount ?? 0)
        // Replaced by the namespace's own counters where the agent can read them.
        sample.networkInBytesPerSecond = OutsideNumber.uint64(figures.networkRxBytesPerSecond ?? 0)
        sample.networkOutBytesPerSecond = OutsideNumber.uint64(figures.networkTxBytesPerSecond ?? 0)
        return sample
    }
}

/// The samples the lanes collected, shared with the caller that stops waiting for them.
private final class CollectedSamples: Sendable {
    let samples = Mutex<[String: ResourceWatcher_V1_ComponentSample]>([:])
}
