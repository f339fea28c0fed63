import Synchronization
public import WatcherModel
public import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// Samples components found as processes (by name, command line, pid file or listening port):
/// CPU (process-tree utime+stime deltas), resident memory of the tree, network rates of the
/// component's network namespace, and whether any process is running.
///
/// Percentages are of the root process's cgroup CPU and memory limits when it has them.
/// Disk figures come from `diskUsage`, refreshed outside the tick. Containers are the
/// `ContainerSampler`'s.
public final class ProcessComponentSampler: Sendable {
    let reader: any ProcReader
    let state: Mutex<State>
    private let clockTicksPerSecond: Double
    private let processorCount: Double
    let pageSizeBytes: UInt64
    /// Host MemTotal and the agent's own network namespace: fixed for the process's life,
    /// so read once rather than every tick.
    private let memoryTotalBytes: UInt64
    private let hostNamespace: String?
    /// Cached disk figures, refreshed by the sampler service's own slower loop.
    public let diskUsage: DiskUsage

    struct Component {
        let name: String
        let clientID: String
        let matcher: ProcessMatcher
        /// A `container_name` component: the container sampler reads it, no process is looked for.
        var isContainer = false
        /// Set for a component found by discovery: its process, not its matcher, identifies it.
        var discovered: DiscoveredProcess?
    }

    /// A discovered service's topmost process, and since when it has been gone.
    struct DiscoveredProcess {
        var rule: DiscoveryRule
        var root: ProcessKey
        var port: Int?
        var goneSince: ContinuousClock.Instant?
        /// The TCP ports its process tree listened on at the last discovery scan (where its
        /// usage source is: a server may start listening long after it started).
        var listeningPorts: [Int] = []
        /// Whether its ports are looked for every tick: a process with a usage source that did
        /// not listen yet when it was taken up (a server loading its model).
        var portsPending = false
        /// The user name (or uid) its process runs as.
        var owner: String?
    }

    /// Discovery's settings, when it is on.
    struct Discovery {
        let finder: ServiceFinder
        let interval: Duration
        let gracePeriod: Duration
        let clientID: String
        /// Discovered components watched at most (process and container ones together).
        let maxComponents: Int
    }

    let discovery: Discovery?
    /// Where cut outside input (pid files, command lines, discovered services beyond
    /// `maxComponents`) is counted.
    let sourceLimits: SourceLimits

    struct State {
        var components: [Component]
        /// CPU ticks per (pid, start time) at the previous tick, per component.
        var previousTicks: [String: [ProcessKey: UInt64]] = [:]
        var previousTime: ContinuousClock.Instant?
        /// Network counters per component at the previous tick.
        var previousNetwork: [String: NetworkCounters] = [:]
        /// Container components' namespace counters at the previous tick, and when they were read.
        var previousContainerNetwork: [String: (counters: NetworkCounters, at: ContinuousClock.Instant)] = [:]
        /// Storage I/O bytes (read, written) per process at the previous tick, per component.
        var previousIO: [String: [ProcessKey: (read: UInt64, written: UInt64)]] = [:]
        /// The processes each component was found as, and when the host was last scanned.
        var knownRoots: [String: [ProcessKey]] = [:]
        var lastFullScan: ContinuousClock.Instant?
        /// Cgroup limits per component, read for its root process at most every rediscovery
        /// interval: limits change rarely, and reading them costs several files per component.
        var limits: [String: CachedLimits] = [:]
        /// The network namespace of each component's root process, read at host scans: a
        /// process rarely changes namespace, and the link costs a path walk per tick.
        var namespaces: [ProcessKey: String] = [:]
        /// Per component, its command-line pattern's answer for each process of the last scan.
        var commandLineMatches: [String: [ProcessIdentity: Bool]] = [:]
        /// When discovery last looked for services.
        var lastDiscovery: ContinuousClock.Instant?
        /// Services found beyond `maxComponents` at the last scan (each is counted once).
        var refusedServices: Set<ProcessKey> = []
        /// Discovered components dropped since `takeDroppedComponents()` was last called.
        var dropped: [String] = []
        /// Each component's process tree at the last tick (for per-process GPU memory).
        var treePIDs: [String: [Int32]] = [:]
        /// Main processes of the containers watched by component (their trees are the
        /// containers' own) and the names container components hold: discovery leaves both alone.
        var containerRoots: [String: Int32] = [:]
        var reservedNames: Set<String> = []
        /// Each container component's process tree at the last tick (for per-process GPU memory).
        var containerTreePIDs: [String: [Int32]] = [:]
    }

    struct CachedLimits {
        let root: ProcessKey
        let readAt: ContinuousClock.Instant
        let cpuLimitCores: Double?
        let memoryLimitBytes: UInt64?
    }

    /// How often the whole host is scanned for new matching processes while every component
    /// is found. A component that is down triggers a scan on every tick.
    static let rediscoveryInterval = Duration.seconds(10)

    struct ProcessKey: Hashable {
        let pid: Int32
        let startTicks: UInt64
    }

    /// A sampler of `components`; with `discovery` on, well-known AI services found on the host
    /// are sampled too, as components of `defaultClientID`.
    public init(
        components: [ComponentConfig],
        discovery: DiscoveryConfig = DiscoveryConfig(),
        rules: [DiscoveryRule] = DiscoveryRules.all,
        defaultClientID: String = "default",
        reader: any ProcReader = LiveProcReader(),
        sourceLimits: SourceLimits = SourceLimits()
    ) {
        self.sourceLimits = sourceLimits
        self.discovery =
            discovery.enabled
            ? Discovery(
                finder: ServiceFinder(rules: rules),
                interval: .milliseconds(Int64((discovery.intervalSeconds * 1000).rounded())),
                gracePeriod: .milliseconds(Int64((discovery.gracePeriodSeconds * 1000).rounded())),
                clientID: defaultClientID,
                maxComponents: discovery.maxComponents
            ) : nil
        self.reader = reader
        self.clockTicksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        self.processorCount = Double(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        self.pageSizeBytes = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        self.memoryTotalBytes = Self.memoryTotalBytes(reader: reader)
        self.hostNamespace = reader.linkTarget(of: "/proc/self/ns/net")
        self.diskUsage = DiskUsage(components: components.map { ($0.name, $0.dataPaths) })
        let components = components.map { component in
            Component(
                name: component.name,
                clientID: component.clientID,
                matcher: ProcessMatcher(
                    processName: component.processName,
                    commandLine: component.cmdline.flatMap { try? Regex($0) },
                    pidFile: component.pidFile,
                    ports: component.ports
                ),
                isContainer: component.containerName != nil
            )
        }
        self.state = Mutex(State(components: components))
    }

    /// One sample per component. Blocking (reads /proc): call from the sampler's I/O thread.
    /// Discovery leaves the process trees of `containerRoots` (the main processes of watched
    /// containers, by component) alone, and names no component in `reservedNames` (container
    /// components'); those trees are kept for `processTrees()`.
    public func sample(
        now: ContinuousClock.Instant = .now,
        containerRoots: [String: Int32] = [:],
        reservedNames: Set<String> = []
    ) -> [ResourceWatcher_V1_ComponentSample] {
        // The host is read (and command-line patterns run) before the lock is taken.
        let scan = scanHost(now: now, containerRoots: containerRoots)
        return state.withLock { state in
            state.containerRoots = containerRoots
            state.reservedNames = reservedNames
            let (processTable, fullScan, discoveryDue) = (scan.table, scan.isFull, scan.discoveryDue)
            if fullScan {
                state.lastFullScan = now
                state.namespaces = [:]
                state.commandLineMatches.merge(scan.commandLineMatches) { _, scanned in scanned }
            }
            // Files kept open for processes no longer in any tree are closed after this tick.
            // (A host scan reads processes without keeping their files: the trees' files are
            // opened again on the next tick, every rediscovery interval at most.)
            defer { reader.closeUnread() }
            var sockets = scan.sockets
            state.containerTreePIDs = containerRoots.mapValues { root in
                processTable.tree(of: [root]).map(\.pid)
            }
            if let discovery {
                if discoveryDue {
                    state.lastDiscovery = now
                    discover(with: discovery, in: processTable, sockets: sockets, state: &state)
                } else if fullScan {
                    // A discovered service whose process is gone is looked for now (restarted:
                    // new PID, same port or command line), not at the next discovery scan.
                    takeUpReplacements(with: discovery, in: processTable, sockets: &sockets, state: &state)
                }
                findPendingPorts(in: processTable, sockets: &sockets, state: &state)
            }
            // Components often share a namespace (the host's): read each namespace's counters once.
            var countersByNamespace: [String: NetworkCounters] = [:]
            var limitsByCgroup: [CgroupMembership: (cpuLimitCores: Double?, memoryLimitBytes: UInt64?)] = [:]
            let elapsedSeconds = state.previousTime.map { (now - $0).inSeconds }
            defer { state.previousTime = now }
            var samples = state.components.indices.map { index in
                let component = state.components[index]
                var sample = ResourceWatcher_V1_ComponentSample()
                sample.name = component.name
                sample.clientID = component.clientID
                sample.discovered = component.discovered != nil
                if let owner = component.discovered?.owner { sample.discoveredOwner = owner }
                // Disk occupancy does not depend on the process running.
                if let disk = diskUsage.figures(for: component.name) {
                    sample.diskUsageKib = disk.allocatedBytes / 1024
                }
                let roots =
                    fullScan
                    ? component.discovered.map { discovered in
                        processTable.processes[discovered.root.pid]?.startTicks == discovered.root.startTicks
                            ? [discovered.root.pid] : []
                    }
                        ?? scan.matchedRoots[component.name] ?? []
                    : (state.knownRoots[component.name] ?? []).map(\.pid)
                state.knownRoots[component.name] = roots.compactMap { pid in
                    processTable.processes[pid].map { ProcessKey(pid: pid, startTicks: $0.startTicks) }
                }
                let processes = processTable.tree(of: roots)
                if component.discovered != nil {
                    state.components[index].discovered?.goneSince =
                        processes.isEmpty ? component.discovered?.goneSince ?? now : nil
                }
                state.treePIDs[component.name] = processes.map(\.pid)
                guard let root = roots.first, !processes.isEmpty else {
                    sample.status = .down
                    if let refusal = scan.pidFileRefusals[component.name] {
                        sample.statusReason = "pid_file refused: \(refusal)"
                    }
                    state.previousTicks[component.name] = [:]
                    state.previousNetwork[component.name] = nil
                    state.previousIO[component.name] = nil
                    return sample
                }
                sample.status = .healthy
                sample.processCount = UInt32(processes.count)
                sample.threadCount = UInt32(clamping: processes.reduce(0) { $0 + $1.threadCount })
                var ticks: [ProcessKey: UInt64] = [:]
                var io: [ProcessKey: (read: UInt64, written: UInt64)] = [:]
                var deltaTicks: UInt64 = 0
                var deltaRead: UInt64 = 0
                var deltaWritten: UInt64 = 0
                let previous = state.previousTicks[component.name] ?? [:]
                let previousIO = state.previousIO[component.name] ?? [:]
                for process in processes {
                    let key = ProcessKey(pid: process.pid, startTicks: process.startTicks)
                    ticks[key] = process.cpuTicks
                    // A process first seen this tick contributes from the next tick on.
                    if let before = previous[key], process.cpuTicks >= before {
                        deltaTicks += process.cpuTicks - before
                    }
                    if let bytes = reader.freshContents(of: "/proc/\(process.pid)/io").map(Self.parseIO) {
                        io[key] = bytes
                        if let before = previousIO[key], bytes.read >= before.read, bytes.written >= before.written {
                            deltaRead += bytes.read - before.read
                            deltaWritten += bytes.written - before.written
                        }
                    }
                }
                state.previousTicks[component.name] = ticks
                state.previousIO[component.name] = io
                if let elapsedSeconds, elapsedSeconds > 0 {
                    sample.diskReadBytesPerSecond = OutsideNumber.uint64(Double(deltaRead) / elapsedSeconds)
                    sample.diskWriteBytesPerSecond = OutsideNumber.uint64(Double(deltaWritten) / elapsedSeconds)
                }
                // DESIGN §3: CPU and memory percentages are of the component's cgroup limits when
                // it has them (a container, a systemd unit with quotas), else of the host.
                let rootKey =
                    state.knownRoots[component.name]?.first { $0.pid == root } ?? ProcessKey(pid: root, startTicks: 0)
                let limits: CachedLimits
                if let cached = state.limits[component.name], cached.root == rootKey,
                    now - cached.readAt < Self.rediscoveryInterval
                {
                    limits = cached
                } else {
                    // Components in the same cgroup (a session, a service) read its limits once.
                    let membership = CgroupReader.membership(pid: root, reader: reader)
                    let figures =
                        limitsByCgroup[membership]
                        ?? {
                            let read = CgroupReader.limits(for: membership, reader: reader)
                            limitsByCgroup[membership] = read
                            return read
                        }()
                    limits = CachedLimits(
                        root: rootKey,
                        readAt: now,
                        cpuLimitCores: figures.cpuLimitCores,
                        memoryLimitBytes: figures.memoryLimitBytes
                    )
                    state.limits[component.name] = limits
                }
                let cores = min(processorCount, limits.cpuLimitCores ?? processorCount)
                if let elapsedSeconds, elapsedSeconds > 0, cores > 0 {
                    let percent = Double(deltaTicks) / clockTicksPerSecond / elapsedSeconds / cores * 100
                    sample.cpuUsageCentipercent = OutsideNumber.centipercent(percent)
                }
                let namespace =
                    state.namespaces[rootKey]
                    ?? reader.linkTarget(of: "/proc/\(root)/ns/net").map { namespace in
                        state.namespaces[rootKey] = namespace
                        return namespace
                    }
                if let network = NetworkCounters.read(
                    pid: root,
                    reader: reader,
                    namespace: namespace,
                    cache: &countersByNamespace
                ) {
                    sample.networkHostWide = network.namespace == hostNamespace
                    if let before = state.previousNetwork[component.name], before.namespace == network.namespace,
                        let elapsedSeconds, elapsedSeconds > 0
                    {
                        sample.networkInBytesPerSecond = Self.rate(
                            before.receivedBytes,
                            network.receivedBytes,
                            elapsedSeconds
                        )
                        sample.networkOutBytesPerSecond = Self.rate(
                            before.transmittedBytes,
                            network.transmittedBytes,
                            elapsedSeconds
                        )
                    }
                    state.previousNetwork[component.name] = network
                }
                let resident = processes.reduce(0) { $0 + $1.residentBytes }
                sample.memoryUsageKib = resident / 1024
                let memoryCapacity = min(memoryTotalBytes, limits.memoryLimitBytes ?? memoryTotalBytes)
                if memoryCapacity > 0 {
                    sample.memoryUsageCentipercent = UInt32(
                        min(1, Double(resident) / Double(memoryCapacity)) * 10_000 + 0.5
                    )
                }
                return sample
            }
            if let discovery, fullScan {
                dropDiscovered(with: discovery, samples: &samples, table: processTable, now: now, state: &state)
            }
            return samples
        }
    }

    /// Bytes per second between two counter readings; a counter that went backwards (interface
    /// recreated) gives 0 rather than a wrapped figure.
    static func rate(_ before: UInt64, _ after: UInt64, _ seconds: Double) -> UInt64 {
        after >= before ? OutsideNumber.uint64(Double(after - before) / seconds) : 0
    }

    /// `read_bytes` and `write_bytes` of /proc/<pid>/io: bytes the process made the storage
    /// layer fetch and send (page cache hits excluded).
    static func parseIO(_ bytes: [UInt8]) -> (read: UInt64, written: UInt64) {
        (
            ProcBytes.keyedNumber(bytes, key: "read_bytes:") ?? 0,
            ProcBytes.keyedNumber(bytes, key: "write_bytes:") ?? 0
        )
    }

    static func memoryTotalBytes(reader: any ProcReader) -> UInt64 {
        guard let bytes = reader.contents(of: "/proc/meminfo") else { return 0 }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("MemTotal:".utf8)) {
            let fields = line.split(separator: UInt8(ascii: " "))
            if fields.count >= 2, let kib = UInt64(String(decoding: fields[1], as: UTF8.self)) { return kib * 1024 }
        }
        return 0
    }

    /// Network rates of container components from their own namespace, read through their main
    /// process (`/proc/<pid>/net/dev`): it counts every interface there, where the engine's
    /// stats count only the interfaces the engine made. A component whose namespace /proc does
    /// not show (the agent in a container without the host's PID namespace) keeps the engine's
    /// figures. Blocking (reads /proc).
    func applyNamespaceNetwork(
        to samples: inout [ResourceWatcher_V1_ComponentSample],
        mainProcessIDs: [String: Int32],
        now: ContinuousClock.Instant
    ) {
        state.withLock { state in
            var cache: [String: NetworkCounters] = [:]
            var seen: [String: (counters: NetworkCounters, at: ContinuousClock.Instant)] = [:]
            for index in samples.indices {
                let name = samples[index].name
                guard let pid = mainProcessIDs[name],
                    let counters = NetworkCounters.read(pid: pid, reader: reader, cache: &cache)
                else { continue }
                seen[name] = (counters, now)
                samples[index].networkHostWide = counters.namespace == hostNamespace
                samples[index].networkInBytesPerSecond = 0
                samples[index].networkOutBytesPerSecond = 0
                guard let before = state.previousContainerNetwork[name], before.counters.namespace == counters.namespace
                else { continue }
                let elapsed = now - before.at
                let seconds = elapsed.inSeconds
                guard seconds > 0 else { continue }
                samples[index].networkInBytesPerSecond = Self.rate(
                    before.counters.receivedBytes,
                    counters.receivedBytes,
                    seconds
                )
                samples[index].networkOutBytesPerSecond = Self.rate(
                    before.counters.transmittedBytes,
                    counters.transmittedBytes,
                    seconds
                )
            }
            state.previousContainerNetwork = seen
        }
    }
}
