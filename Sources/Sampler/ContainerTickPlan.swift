import WatcherModel
import WatcherProto

/// One tick's container components, from what the engine last said (`ContainerTable`) and what
/// the kernel says now (`ContainerKernelReader`): a sample for each, or the containers whose
/// figures must come from the engine's stats instead (`unreadable`). Pure.
struct ContainerTickPlan {
    typealias Component = ContainerSampler.Component

    private(set) var samples: [String: ResourceWatcher_V1_ComponentSample] = [:]
    /// The main process of each container sampled (its network namespace is read from /proc).
    private(set) var mainProcessIDs: [String: Int32] = [:]
    /// The main process of every running container watched, sampled or not.
    private(set) var containerProcessIDs: [String: Int32] = [:]
    /// The host ports each running container component publishes.
    private(set) var publishedPorts: [String: Set<Int>] = [:]
    /// Containers to read from the kernel, with their components.
    private var running: [(component: Component, entry: ContainerTable.Entry)] = []
    /// Containers whose main process the kernel no longer has, with the PID the engine gave.
    private(set) var processesGone: [(containerID: String, pid: Int32)] = []
    /// Running containers whose cgroup cannot be read, and why: the stats endpoint's to sample.
    private(set) var unreadable: [(component: Component, entry: ContainerTable.Entry, reason: String)] = []

    /// Samples for what needs no reading (absent, stopped, not named yet); the rest waits for
    /// `take(_:diskBytes:)`. `engineProblem` is the reason of a container the engine has not named.
    /// `invisible`: containers whose main process the engine confirmed but /proc does not show
    /// (the agent in another PID namespace), by ID: the stats endpoint's, their PIDs not used here.
    init(watched: [Component], table: ContainerTable, engineProblem: String?, invisible: [String: Int32] = [:]) {
        for component in watched {
            var sample = ContainerSampler.emptySample(component)
            guard table.isListed else {
                sample.status = .unknown
                sample.statusReason = engineProblem ?? "waiting for the Docker engine's container list"
                samples[component.name] = sample
                continue
            }
            guard let entry = table.entry(named: component.containerName) else {
                sample.status = .down
                sample.statusReason = "no container named \(component.containerName)"
                samples[component.name] = sample
                continue
            }
            guard entry.summary.isRunning else {
                sample.status = .down
                sample.statusReason = "container \(entry.summary.name) is \(entry.summary.state)"
                samples[component.name] = sample
                continue
            }
            publishedPorts[component.name] = Set(entry.summary.publishedTCPPorts.values)
            guard let pid = entry.pid else {
                sample.status = .unknown
                sample.statusReason =
                    engineProblem ?? "waiting for the Docker engine to inspect container \(entry.summary.name)"
                samples[component.name] = sample
                continue
            }
            if invisible[entry.summary.id] == pid {
                unreadable.append((component, entry, Self.invisibleReason(pid)))
                continue
            }
            containerProcessIDs[component.name] = pid
            running.append((component, entry))
        }
    }

    /// The components whose containers' main processes the kernel no longer has.
    var goneComponents: [Component] {
        let gone = Set(processesGone.map(\.containerID))
        return running.filter { gone.contains($0.entry.summary.id) }.map(\.component)
    }

    /// Takes the samples of `other` (a second look at some components) over this plan's.
    mutating func merge(_ other: ContainerTickPlan) {
        let moved = Set(other.unreadable.map(\.component.name))
        for name in moved {
            samples[name] = nil
            mainProcessIDs[name] = nil
            containerProcessIDs[name] = nil
        }
        processesGone.removeAll { gone in other.running.contains { $0.entry.summary.id == gone.containerID } }
        processesGone += other.processesGone
        samples.merge(other.samples) { _, new in new }
        for name in other.samples.keys {
            mainProcessIDs[name] = other.mainProcessIDs[name]
            containerProcessIDs[name] = other.containerProcessIDs[name]
        }
        publishedPorts.merge(other.publishedPorts) { _, new in new }
        unreadable += other.unreadable
    }

    static func invisibleReason(_ pid: Int32) -> String {
        "the engine's PID \(pid) is not in the agent's /proc (another PID namespace: run with --pid host)"
    }

    /// The containers of `processesGone` whose PID the engine confirmed (`confirmed`, by ID) are
    /// running where the agent cannot see them: moved to `unreadable`; returns them.
    mutating func markInvisible(confirmed: [String: Int32]) -> [String: Int32] {
        var invisible: [String: Int32] = [:]
        for (id, pid) in processesGone where confirmed[id] == pid { invisible[id] = pid }
        guard !invisible.isEmpty else { return [:] }
        processesGone.removeAll { invisible[$0.containerID] != nil }
        for item in running where invisible[item.entry.summary.id] != nil {
            samples[item.component.name] = nil
            containerProcessIDs[item.component.name] = nil
            unreadable.append((item.component, item.entry, Self.invisibleReason(invisible[item.entry.summary.id]!)))
        }
        return invisible
    }

    /// What to read from the kernel.
    var targets: [ContainerKernelReader.Target] {
        running.compactMap { item in item.entry.pid.map { .init(containerID: item.entry.summary.id, pid: $0) } }
    }

    /// Takes the kernel's outcomes (by container ID) into samples; `diskBytes` (by component)
    /// from the slow disk refresh.
    mutating func take(_ outcomes: [String: ContainerKernelReader.Outcome], diskBytes: [String: UInt64]) {
        for (component, entry) in running {
            guard let pid = entry.pid else { continue }
            var sample = ContainerSampler.emptySample(component)
            switch outcomes[entry.summary.id] {
            case .figures(let figures):
                sample.status = .healthy
                Self.fill(&sample, with: figures)
                sample.diskUsageKib = (diskBytes[component.name] ?? 0) / 1024
                mainProcessIDs[component.name] = pid
            case .processGone:
                sample.status = .down
                sample.statusReason = "the main process (PID \(pid)) of container \(entry.summary.name) is gone"
                containerProcessIDs[component.name] = nil
                processesGone.append((entry.summary.id, pid))
            case .cgroupUnreadable(let reason):
                unreadable.append((component, entry, reason))
                continue
            case nil:
                sample.status = .unknown
                sample.statusReason = "the kernel's figures of container \(entry.summary.name) could not be read"
            }
            samples[component.name] = sample
        }
    }

    /// A sample from the stats endpoint (or its absence) for a container of `unreadable`.
    mutating func take(fallback sample: ResourceWatcher_V1_ComponentSample, pid: Int32?) {
        samples[sample.name] = sample
        if let pid { mainProcessIDs[sample.name] = pid }
    }

    private static func fill(
        _ sample: inout ResourceWatcher_V1_ComponentSample,
        with figures: ContainerKernelReader.Figures
    ) {
        if let percent = figures.cpuPercentOfCapacity {
            sample.cpuUsageCentipercent = OutsideNumber.centipercent(percent)
        }
        sample.memoryUsageKib = (figures.cgroup.memoryUsageBytes ?? 0) / 1024
        if let percent = figures.memoryPercent { sample.memoryUsageCentipercent = OutsideNumber.centipercent(percent) }
        if let rate = figures.ioReadBytesPerSecond { sample.diskReadBytesPerSecond = OutsideNumber.uint64(rate) }
        if let rate = figures.ioWriteBytesPerSecond { sample.diskWriteBytesPerSecond = OutsideNumber.uint64(rate) }
        sample.processCount = UInt32(clamping: figures.cgroup.processCount ?? 0)
    }
}
