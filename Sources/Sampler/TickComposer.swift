public import Logging
import NIOPosix
import Synchronization
public import WatcherModel
public import WatcherProto

/// Builds one tick's batch: samples every component, evaluates alerts on them, marks alerting
/// components degraded, and carries the transitions and the full active set (so the spool's
/// head always knows which alerts are active).
///
/// A batch that is not appended (disk full) gives its transitions back (`notAppended(_:)`):
/// the next batch carries them, before its own, so each reaches the destinations once, in the
/// batch that was stored. The evaluator stays a pure state machine that moves on every tick.
public final class TickComposer: Sendable {
    public let sampler: ProcessComponentSampler
    /// Nil when no component is a container and discovery is off.
    let containers: ContainerSampler?
    /// The machine itself as the component `host`; nil unless `host` is on.
    let host: HostSampler?
    /// NVIDIA (NVML, loaded at run time) and AMD (sysfs) GPUs; read every tick.
    let gpus: GPUReader
    private let logger: Logger
    /// Whether the absence of NVML was logged (once, at info).
    private let reportedNoNVML = Mutex(false)
    private let evaluator: Mutex<AlertEvaluator>
    /// Transitions of batches not appended, for the next batch.
    private let unsent: Mutex<UnsentAlertTransitions>
    /// Where transitions cut from `unsent` (over its bound) are counted.
    private let sourceLimits: SourceLimits
    private let agentID: String
    /// Each component's status at the previous tick, and how many ticks were composed.
    private let history = Mutex<(statuses: [String: ResourceWatcher_V1_ComponentStatus], ticks: Int)>(([:], 0))

    /// A composer for `config`'s components; container components are read from the engine at
    /// `config.dockerSocket`.
    public convenience init(
        config: Config,
        agentID: String,
        reader: any ProcReader = LiveProcReader(),
        gpus: GPUReader = GPUReader(),
        logger: Logger = Logger(label: "resource-watcher", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.init(
            config: config,
            agentID: agentID,
            reader: reader,
            dockerEngine: DockerEngine(socketPath: config.dockerSocket),
            gpus: gpus,
            logger: logger
        )
    }

    /// A composer whose container components are read from `dockerEngine` (shared with the
    /// container log reader, so both use one negotiated API version).
    init(
        config: Config,
        agentID: String,
        reader: any ProcReader = LiveProcReader(),
        dockerEngine: DockerEngine,
        gpus: GPUReader = GPUReader(),
        logger: Logger = Logger(label: "resource-watcher", factory: { _ in SwiftLogNoOpLogHandler() }),
        sourceLimits: SourceLimits = SourceLimits(),
        unsentTransitionLimit: Int = UnsentAlertTransitions.defaultLimit,
        ioThreadPool: NIOThreadPool = .singleton,
        cgroupMountRoot: String = "/sys/fs/cgroup"
    ) {
        self.sourceLimits = sourceLimits
        self.unsent = Mutex(UnsentAlertTransitions(limit: unsentTransitionLimit))
        self.gpus = gpus
        self.logger = logger
        self.sampler = ProcessComponentSampler(
            components: config.components,
            discovery: config.discovery,
            defaultClientID: config.clientID,
            reader: reader,
            sourceLimits: sourceLimits
        )
        self.containers = ContainerSampler(
            components: config.components,
            discovery: config.discovery,
            defaultClientID: config.clientID,
            engine: dockerEngine,
            reader: reader,
            cgroupMountRoot: cgroupMountRoot,
            ioThreadPool: ioThreadPool,
            sourceLimits: sourceLimits,
            logger: logger
        )
        self.host =
            config.host
            ? HostSampler(
                clientID: config.clientID,
                diskPaths: [config.spool.directory] + config.components.flatMap(\.dataPaths),
                reader: reader
            ) : nil
        self.evaluator = Mutex(
            AlertEvaluator(
                global: config.alerts,
                components: config.components,
                alsoKnown: config.host ? [(Config.hostComponentName, config.clientID)] : []
            )
        )
        self.agentID = agentID
        self.pendingRestoreWindowMilliseconds = Self.pendingRestoreWindow(
            pollIntervalSeconds: config.pollIntervalSeconds
        )
    }

    /// How old the last batch may be for its pending alerts' counts to go on after a restart:
    /// a minute plus two poll intervals. After a longer gap the samples in between were never
    /// taken, so the counts start again.
    static func pendingRestoreWindow(pollIntervalSeconds: Double) -> Int64 {
        60_000 + Int64((2 * pollIntervalSeconds * 1000).rounded())
    }

    private let pendingRestoreWindowMilliseconds: Int64

    /// The time of the last batch composed (Unix ms); batch times only move forward.
    private let lastTimestamp = Mutex<Int64>(0)

    /// Starts the alert evaluator from the active set of the last batch before a restart (and
    /// its pending counts, when the batch is recent: `pendingRestoreWindow`), and the batch
    /// clock from its time (the next batch is later, whatever the wall clock says).
    public func restore(
        from last: ResourceWatcher_V1_Batch,
        nowUnixMilliseconds: Int64 = RFC3339.nowUnixMilliseconds()
    ) {
        let recent = nowUnixMilliseconds - last.timestampUnixMs <= pendingRestoreWindowMilliseconds
        evaluator.withLock { evaluator in
            evaluator.restore(active: last.activeAlerts)
            if recent { evaluator.restore(pending: last.pendingAlerts) }
        }
        lastTimestamp.withLock { $0 = max($0, last.timestampUnixMs) }
    }

    /// The container components' samples (configured, and discovered by image): figures from
    /// their cgroups (read on the I/O thread pool), the engine asked only for what is due and
    /// waited for at most `timeout`. Empty without container components and discovery.
    public func sampleContainers(
        timeout: Duration,
        now: ContinuousClock.Instant = .now
    ) async -> ContainerSamples {
        guard let containers else { return ContainerSamples() }
        var reserved = sampler.componentNames()
        if host != nil { reserved.insert(Config.hostComponentName) }
        containers.noteDiscoveredProcesses(sampler.discoveredComponents().count)
        return await containers.sample(timeout: timeout, reservedNames: reserved, now: now)
    }

    /// The discovered containers whose stdout and stderr are read like a configured container's.
    func discoveredContainerLogSources() -> [ContainerLogReader.Source] {
        containers?.discoveredLogSources() ?? []
    }

    /// Whether there are container components (or container discovery) whose engine to watch.
    public var watchesContainers: Bool { containers != nil }

    /// Follows the Docker engine's container events until cancelled (start, die, destroy,
    /// rename, pause, unpause), so ticks learn of changes without asking the engine. Run it
    /// beside the tick loop; returns at once without container components and discovery.
    public func watchContainerEngine() async {
        await containers?.watchEngine()
    }

    /// The usage sources of the discovered services now running (DESIGN §5, `discovery`): a
    /// process's on the ports its tree listens on; a container's on the host ports it publishes
    /// (the rule's port first), or the rule's own ports when it shares the host's network.
    public func discoveredUsageSources() -> [ModelSources.DiscoveredSource] {
        var sources: [ModelSources.DiscoveredSource] = []
        for service in sampler.discoveredComponents() where service.isRunning {
            let ports = (service.port.map { [$0] } ?? []) + service.listeningPorts
            if let source = service.rule.usageSource(component: service.name, clientID: service.clientID, ports: ports)
            {
                sources.append(source)
            }
        }
        for service in containers?.discoveredServices() ?? [] {
            let ports =
                service.hostNetwork
                ? service.rule.ports
                : service.rule.ports.compactMap { service.publishedPorts[$0] } + service.publishedPorts.values.sorted()
            if let source = service.rule.usageSource(component: service.name, clientID: service.clientID, ports: ports)
            {
                sources.append(source)
            }
        }
        return sources
    }

    /// Of each component's `ports`, those it owns now: a port one of its processes listens on
    /// (its process tree, or its container's), or a port its container publishes on the host.
    public func ownedPorts(_ portsByComponent: [String: [Int]]) -> [String: Set<Int>] {
        var owned = sampler.ownedPorts(portsByComponent)
        let published = containers?.publishedHostPorts.withLock { $0 } ?? [:]
        for (component, ports) in portsByComponent {
            let publishedOwned = Set(ports).intersection(published[component] ?? [])
            if !publishedOwned.isEmpty { owned[component, default: []].formUnion(publishedOwned) }
        }
        return owned
    }

    /// Whether any component needs the slower disk loop (data_paths or containers).
    public var needsDiskRefresh: Bool { !sampler.diskUsage.isEmpty || containers != nil }

    /// Refreshes container disk usage; `allocatedBytes` walks host directories on an I/O thread.
    public func refreshContainerDiskUsage(allocatedBytes: @escaping @Sendable ([String]) async -> UInt64) async {
        await containers?.refreshDiskUsage(allocatedBytes: allocatedBytes)
    }

    /// One tick; `containerSamples` (from `sampleContainers`) replace the process sampler's
    /// figures of those components, their network rates read from their namespaces where /proc
    /// shows them. The batch's transitions are those given back by `notAppended(_:)` since the
    /// last batch, then this tick's (`newTransitions(in:)`). Blocking (reads /proc): call from
    /// an I/O thread.
    public func composeBatch(
        intervalSeconds: Double,
        containerSamples: ContainerSamples = ContainerSamples(),
        now: ContinuousClock.Instant = .now,
        nowUnixMilliseconds: Int64 = RFC3339.nowUnixMilliseconds()
    ) -> ResourceWatcher_V1_Batch {
        var samples = sampler.sample(
            now: now,
            containerRoots: containerSamples.containerProcessIDs,
            reservedNames: Set(containerSamples.discovered)
        ).map { containerSamples[$0.name] ?? $0 }
        samples += containerSamples.discovered.compactMap { containerSamples[$0] }
        sampler.applyNamespaceNetwork(to: &samples, mainProcessIDs: containerSamples.mainProcessIDs, now: now)
        let dropped = sampler.takeDroppedComponents() + containerSamples.dropped
        var diskUsedPercent: [String: Double] = [:]
        if let host {
            let (hostSample, hostDiskPercent) = host.sample(now: now)
            samples.insert(hostSample, at: 0)
            diskUsedPercent[hostSample.name] = hostDiskPercent
        }
        applyGPUs(to: &samples)
        for sample in samples {
            if let percent = sampler.diskUsage.figures(for: sample.name)?.filesystemUsedPercent {
                diskUsedPercent[sample.name] = percent
            }
        }
        // Batch times only move forward: a wall clock stepped back (NTP, a VM resumed) must not
        // put a series' samples out of order at the destinations, which refuse them.
        let stamp = lastTimestamp.withLock { last -> Int64 in
            last = max(nowUnixMilliseconds, last + 1)
            return last
        }
        let (evaluation, pending) = evaluator.withLock { evaluator in
            let forgotten = dropped.flatMap { evaluator.forget(component: $0, nowUnixMilliseconds: stamp) }
            var evaluation = evaluator.evaluate(
                samples: samples,
                diskUsedPercent: diskUsedPercent,
                nowUnixMilliseconds: stamp
            )
            evaluation.transitions = forgotten + evaluation.transitions
            return (evaluation, evaluator.pending)
        }
        AlertEvaluator.applyingStatus(to: &samples, active: evaluation.active)
        var batch = ResourceWatcher_V1_Batch()
        batch.schemaVersion = 1
        batch.agentID = agentID
        batch.timestampUnixMs = stamp
        batch.intervalSeconds = intervalSeconds
        batch.components = samples
        batch.activeAlerts = evaluation.active
        batch.pendingAlerts = pending
        batch.transitions = unsent.withLock { $0.takeAll() } + evaluation.transitions
        if let problem = containers?.engineProblem {
            var sourceProblem = ResourceWatcher_V1_SourceProblem()
            sourceProblem.source = ContainerSampler.sourceName
            sourceProblem.message = problem.message
            sourceProblem.sinceUnixMs = problem.sinceUnixMilliseconds
            batch.sourceProblems = [sourceProblem]
        }
        return batch
    }

    /// The append of `batch` (from `composeBatch`) failed, or never happened: its transitions
    /// go into the next batch. Past `UnsentAlertTransitions.defaultLimit` (1024) waiting, the
    /// oldest whole episodes are cut first, counted per component as
    /// `alert_transitions_over_limit`.
    public func notAppended(_ batch: ResourceWatcher_V1_Batch) {
        guard !batch.transitions.isEmpty else { return }
        let (cut, limit) = unsent.withLock { ($0.giveBack(batch.transitions), $0.limit) }
        guard !cut.isEmpty else { return }
        for (component, count) in Dictionary(grouping: cut, by: \.alert.component).mapValues(\.count) {
            sourceLimits.note(
                component: component,
                reason: "alert_transitions_over_limit",
                count: UInt64(count),
                detail: "over \(limit) alert transitions waited for a batch to be appended (disk full?); oldest cut"
            )
        }
    }

    /// The transitions `batch` (from `composeBatch`) has of its own tick, not carried from a
    /// batch that was not appended: those stamped with the batch's time (batch times only move
    /// forward, so every carried one is older).
    public static func newTransitions(
        in batch: ResourceWatcher_V1_Batch
    ) -> [ResourceWatcher_V1_AlertTransition] {
        batch.transitions.filter { $0.atUnixMs == batch.timestampUnixMs }
    }

    /// GPU figures: per GPU on the host's sample; per component the memory its process tree
    /// holds (a container's: its main process's tree, host PIDs as NVML lists them), as
    /// `gpu_memory_usage`. No GPU, no field: a figure NVML does not give stays absent rather than 0.
    private func applyGPUs(to samples: inout [ResourceWatcher_V1_ComponentSample]) {
        let snapshot = gpus.read()
        if let reason = gpus.nvmlUnavailableReason {
            let first = reportedNoNVML.withLock { reported in
                defer { reported = true }
                return !reported
            }
            if first { logger.info("no NVIDIA GPU figures", metadata: ["reason": "\(reason)"]) }
        }
        guard !snapshot.gpus.isEmpty else { return }
        let nvidia = snapshot.gpus.filter { $0.vendor == "nvidia" }
        let nvidiaTotal = nvidia.reduce(UInt64(0)) { $0 + ($1.memoryTotalBytes ?? 0) }
        if !nvidia.isEmpty {
            let trees = sampler.processTrees()
            for index in samples.indices where samples[index].status != .down {
                guard let pids = trees[samples[index].name] else { continue }
                let bytes = pids.reduce(UInt64(0)) { $0 + (snapshot.processMemoryBytes[$1] ?? 0) }
                samples[index].gpuMemoryUsageKib = bytes / 1024
                if nvidiaTotal > 0 {
                    samples[index].gpuMemoryUsageCentipercent = UInt32(
                        min(1, Double(bytes) / Double(nvidiaTotal)) * 10_000 + 0.5
                    )
                }
            }
        }
        if let hostIndex = samples.firstIndex(where: { $0.name == Config.hostComponentName }), host != nil {
            samples[hostIndex].gpus = snapshot.gpus.map(Self.gpuSample)
            let reporting = snapshot.gpus.filter { $0.memoryUsedBytes != nil }
            if !reporting.isEmpty {
                let used = reporting.reduce(UInt64(0)) { $0 + $1.memoryUsedBytes! }
                let total = reporting.reduce(UInt64(0)) { $0 + ($1.memoryTotalBytes ?? 0) }
                samples[hostIndex].gpuMemoryUsageKib = used / 1024
                if total > 0 {
                    samples[hostIndex].gpuMemoryUsageCentipercent = UInt32(
                        min(1, Double(used) / Double(total)) * 10_000 + 0.5
                    )
                }
            }
        }
    }

    private static func gpuSample(_ figures: GPUFigures) -> ResourceWatcher_V1_GpuSample {
        var gpu = ResourceWatcher_V1_GpuSample()
        gpu.vendor = figures.vendor
        gpu.index = UInt32(clamping: figures.index)
        gpu.name = figures.name
        gpu.uuid = figures.uuid ?? ""
        if let value = figures.utilizationPercent { gpu.utilizationPercent = value }
        if let value = figures.memoryUsedBytes { gpu.memoryUsedBytes = value }
        if let value = figures.memoryTotalBytes { gpu.memoryTotalBytes = value }
        if let value = figures.temperatureCelsius { gpu.temperatureCelsius = value }
        if let value = figures.powerWatts { gpu.powerWatts = value }
        return gpu
    }

    /// The components an operator should see in the log after this batch: all of them on the
    /// second tick (the first with CPU and network rates), then those whose status changed.
    public func componentsWorthLogging(in batch: ResourceWatcher_V1_Batch) -> [ResourceWatcher_V1_ComponentSample] {
        history.withLock { history in
            history.ticks += 1
            defer { history.statuses = Dictionary(batch.components.map { ($0.name, $0.status) }) { first, _ in first } }
            if history.ticks == 2 { return batch.components }
            return batch.components.filter { history.ticks > 2 && history.statuses[$0.name] != $0.status }
        }
    }
}
