import HTTPTransport
import Logging
import Synchronization
import WatcherModel
import WatcherProto

/// Samples components found by `container_name` through the Docker Engine API, with the
/// `docker stats` formulas, and with discovery on, the containers of well-known AI services
/// found by image (`DiscoveryRule.images`; see `ContainerSampler+Discovery.swift`). A tick waits for the engine at most `timeout`: a component whose
/// figures did not arrive by then is reported `unknown` for that tick, never holding it up.
///
/// An engine that cannot be reached or refuses is an operator-visible fact: every container
/// component reads `unknown` with the engine's own message as its `status_reason`, the batch
/// carries it as a source problem (so `/health` turns degraded), and a warning is logged when it
/// starts (and a notice when it ends). Discovery alone does not need an engine: without one (no
/// socket, or it refuses) and with no container discovered, that is one info line, not a problem.
final class ContainerSampler: Sendable {
    struct Component: Equatable {
        let name: String
        let clientID: String
        let containerName: String
        /// Found by discovery (its image), not configured.
        var discovered = false
    }

    /// A problem with the engine, as the batch and `/health` report it.
    struct EngineProblem: Sendable, Equatable {
        var message: String
        var sinceUnixMilliseconds: Int64
    }

    /// The name of the engine in source problems and log metadata.
    static let sourceName = "docker"
    /// Stats requests in flight at once, at most. A real engine answers one-shot stats on its own
    /// one-second beat, so requests made one after another would take a second each; each lane is
    /// a connection (and a thread) of its own.
    static let maximumLanes = 32

    let engine: DockerEngine
    private let lanes: [DockerClient]
    /// Size requests make the engine walk writable layers, which can take long: a connection of
    /// their own, so they never hold up a tick's requests.
    private let sizeClient: DockerClient
    /// The configured container components.
    let components: [Component]
    let logger: Logger
    /// Discovery's settings, when it is on.
    let discovery: Discovery?
    /// The discovered containers now watched, and discovery's bookkeeping.
    let discoveryState = Mutex(DiscoveryState())
    private let calculator = Mutex(DockerStatsCalculator())
    /// Disk bytes per component (writable layer + volumes), from the slower size refresh.
    private let diskBytes = Mutex<[String: UInt64]>([:])
    private let problem = Mutex<EngineProblem?>(nil)
    /// The host ports each running container component publishes, as the last listing said:
    /// those ports are the container's own (a proxy process of the engine holds them on the host).
    let publishedHostPorts = Mutex<[String: Set<Int>]>([:])

    /// Nil when no component has a `container_name` and discovery is off. `lanes` bounds the
    /// stats requests in flight.
    init?(
        components: [ComponentConfig],
        discovery: DiscoveryConfig = DiscoveryConfig(),
        rules: [DiscoveryRule] = DiscoveryRules.all,
        defaultClientID: String = "default",
        engine: DockerEngine,
        lanes: Int = ContainerSampler.maximumLanes,
        logger: Logger
    ) {
        let containers = components.compactMap { component in
            component.containerName.map {
                Component(name: component.name, clientID: component.clientID, containerName: $0)
            }
        }
        guard !containers.isEmpty || discovery.enabled else { return nil }
        self.components = containers
        self.discovery =
            discovery.enabled
            ? Discovery(
                rules: rules.filter { !$0.images.isEmpty },
                clientID: defaultClientID,
                interval: .milliseconds(Int64((discovery.intervalSeconds * 1000).rounded())),
                gracePeriod: .milliseconds(Int64((discovery.gracePeriodSeconds * 1000).rounded()))
            ) : nil
        self.engine = engine
        // Discovered containers are not known yet: a few lanes for them.
        let wanted = containers.count + (discovery.enabled ? Self.discoveryLanes : 0)
        self.lanes = (0..<max(1, min(lanes, wanted))).map { _ in engine.makeClient() }
        self.sizeClient = engine.makeClient(requestTimeout: .seconds(120))
        self.logger = logger
    }

    /// The engine's current problem, nil while it answers.
    var engineProblem: EngineProblem? { problem.withLock { $0 } }

    /// One sample per container component (configured and discovered), and the main process of
    /// each running one. Discovery names new components outside `reservedNames` (the process
    /// components' names).
    func sample(
        timeout: Duration,
        reservedNames: Set<String> = [],
        now: ContinuousClock.Instant = .now
    ) async -> ContainerSamples {
        let results = Results()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.collect(into: results, reservedNames: reservedNames, now: now) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        let (collected, pids, inspected, listing) = results.state.withLock {
            ($0.samples, $0.pids, $0.inspectedPIDs, $0.listing)
        }
        let seconds = timeout.inSeconds
        var engineProblem: String?
        switch listing {
        case .none:
            engineProblem = "no answer from the Docker engine at unix://\(engine.socketPath) within \(seconds) s"
        case .failed(let message): engineProblem = message
        case .listed: engineProblem = nil
        }
        let (discovered, dropped) = takeDiscovered()
        let watched = components + discovered
        if watched.isEmpty, let message = engineProblem {
            // Discovery alone: an engine that is absent or refuses is not a problem of anything watched.
            noteNoEngineForDiscovery(message)
            engineProblem = nil
        }
        record(problem: engineProblem)
        var samples: [String: ResourceWatcher_V1_ComponentSample] = [:]
        for component in watched {
            samples[component.name] =
                collected[component.name]
                ?? {
                    var late = Self.emptySample(component)
                    late.status = .unknown
                    late.statusReason =
                        engineProblem ?? "the Docker engine did not send this container's stats within \(seconds) s"
                    return late
                }()
        }
        return ContainerSamples(
            samples: samples,
            mainProcessIDs: pids,
            containerProcessIDs: inspected,
            discovered: discovered.map(\.name),
            dropped: dropped
        )
    }

    /// What a tick collected, shared by the collecting task and the caller that stops waiting.
    private final class Results: Sendable {
        enum Listing: Sendable {
            case listed
            case failed(String)
        }
        struct State {
            var samples: [String: ResourceWatcher_V1_ComponentSample] = [:]
            var pids: [String: Int32] = [:]
            /// Main processes of the running containers inspected, sampled in time or not.
            var inspectedPIDs: [String: Int32] = [:]
            /// Nil until the container list answered or failed.
            var listing: Listing?
        }
        let state = Mutex(State())

        func store(_ sample: ResourceWatcher_V1_ComponentSample, pid: Int32? = nil) {
            state.withLock {
                $0.samples[sample.name] = sample
                $0.pids[sample.name] = pid
            }
        }
    }

    private func collect(into results: Results, reservedNames: Set<String>, now: ContinuousClock.Instant) async {
        let due = discoveryDue(now: now)
        guard due || !components.isEmpty || !discoveredComponents().isEmpty else {
            // Discovery alone, between two scans, nothing found: no need to ask the engine.
            results.state.withLock { $0.listing = .listed }
            return
        }
        // A scan is one attempt per interval: an engine that fails or hangs is not asked again
        // every tick for discovery alone (each try could hold the tick up to its budget).
        if due { markScanned(at: now) }
        let containers: [DockerContainer]
        do {
            containers = try await lanes[0].containers()
        } catch {
            // Cut off by the tick's timeout: that is "no answer", which `sample` reports itself.
            guard error.transportError?.code != .cancelled else { return }
            results.state.withLock { $0.listing = .failed(Self.operatorMessage(error, socket: engine.socketPath)) }
            return
        }
        results.state.withLock { $0.listing = .listed }
        let byName = Dictionary(containers.map { ($0.name, $0) }) { first, _ in first }
        let listed = Set(containers.map(\.id))
        calculator.withLock { $0.retainOnly(listed) }
        let watched = components + discover(in: containers, due: due, reservedNames: reservedNames, now: now)
        // Absent and stopped containers first: they need no further request, so a stats call
        // that hangs cannot hide them.
        var running: [(Component, DockerContainer)] = []
        for component in watched {
            if let container = byName[component.containerName], container.isRunning {
                running.append((component, container))
            } else {
                var sample = Self.emptySample(component)
                sample.status = .down
                sample.statusReason =
                    byName[component.containerName].map { "container \($0.name) is \($0.state)" }
                    ?? "no container named \(component.containerName)"
                results.store(sample)
            }
        }
        publishedHostPorts.withLock { published in
            published = Dictionary(running.map { ($0.0.name, Set($0.1.publishedTCPPorts.values)) }) { first, _ in first
            }
        }
        // Lane i takes containers i, i + lanes, …: one request at a time per connection.
        let lanes = self.lanes
        await withTaskGroup(of: Void.self) { group in
            for (laneIndex, client) in lanes.enumerated() {
                let share = stride(from: laneIndex, to: running.count, by: lanes.count).map { running[$0] }
                guard !share.isEmpty else { continue }
                group.addTask {
                    for (component, container) in share {
                        if Task.isCancelled { return }
                        if let (sample, pid) = await self.sample(component, container, using: client, results) {
                            results.store(sample, pid: pid)
                        }
                    }
                }
            }
        }
    }

    private func sample(
        _ component: Component,
        _ container: DockerContainer,
        using client: DockerClient,
        _ results: Results
    ) async
        -> (ResourceWatcher_V1_ComponentSample, pid: Int32?)?
    {
        // Inspect every tick: the limits are there, and the main process changes on a restart.
        let details: DockerContainerDetails
        let stats: DockerStats
        do {
            details = try await client.inspect(id: container.id, includeSize: false)
            // Known before the stats arrive (or the tick ends): process discovery leaves its tree.
            if let pid = details.pid { results.state.withLock { $0.inspectedPIDs[component.name] = pid } }
            stats = try await client.stats(id: container.id)
        } catch {
            logger.debug(
                "cannot read container stats",
                metadata: ["component": "\(component.name)", "container_id": "\(container.id)", "error": "\(error)"]
            )
            return nil
        }
        let limit = details.cpuLimitCores
        let figures = calculator.withLock { $0.figures(for: container, stats: stats, at: .now) }
        var sample = Self.emptySample(component)
        sample.status = .healthy
        if let percent = figures.cpuPercentOfCapacity(limitCores: limit) {
            sample.cpuUsageCentipercent = OutsideNumber.uint32(percent * 100)
        }
        sample.memoryUsageKib = figures.memoryUsageBytes / 1024
        if let percent = figures.memoryPercent {
            sample.memoryUsageCentipercent = OutsideNumber.centipercent(percent)
        }
        sample.networkInBytesPerSecond = OutsideNumber.uint64(figures.networkRxBytesPerSecond ?? 0)
        sample.networkOutBytesPerSecond = OutsideNumber.uint64(figures.networkTxBytesPerSecond ?? 0)
        sample.processCount = UInt32(clamping: figures.processCount ?? 0)
        sample.diskUsageKib = (diskBytes.withLock { $0[component.name] } ?? 0) / 1024
        return (sample, details.pid)
    }

    /// Remembers whether the engine answered this tick; logs when a problem starts, changes or ends.
    private func record(problem message: String?) {
        let now = RFC3339.nowUnixMilliseconds()
        let (before, after) = problem.withLock { current -> (EngineProblem?, EngineProblem?) in
            let before = current
            if let message {
                if current?.message != message { current = EngineProblem(message: message, sinceUnixMilliseconds: now) }
            } else {
                current = nil
            }
            return (before, current)
        }
        if let after, after != before {
            logger.warning(
                "Docker engine unavailable: container components read unknown",
                metadata: ["docker.socket": "\(engine.socketPath)", "error": "\(after.message)"]
            )
        } else if after == nil, let before {
            logger.notice(
                "Docker engine answers again",
                metadata: [
                    "docker.socket": "\(engine.socketPath)",
                    "docker.api_version": "\(engine.currentVersion?.description ?? "?")",
                    "unavailable_since": "\(RFC3339.format(unixMilliseconds: before.sinceUnixMilliseconds))",
                ]
            )
        }
    }

    /// What an operator should read: where the engine is and what it said, as `docker` would put it.
    static func operatorMessage(_ error: DockerError, socket: String) -> String {
        switch error.code {
        case .transport where error.transportError?.code == .connect:
            return "cannot connect to the Docker engine at unix://\(socket): \(error.message)"
        case .transport:
            return "no answer from the Docker engine at unix://\(socket): \(error.message)"
        case .unsupportedVersion:
            return "the Docker engine at unix://\(socket) is too old: \(error.message)"
        case .malformedResponse:
            return "the Docker engine at unix://\(socket) answered what the Engine API does not: \(error.message)"
        default:
            return "the Docker engine at unix://\(socket) refused: \(error.message)"
                + (error.status.map { " (HTTP \($0))" } ?? "")
        }
    }

    /// Refreshes each running container's disk usage (DESIGN §3: writable layer + volumes).
    /// Asking the engine for sizes makes it walk the layer, so this runs on the slow disk loop,
    /// never in the tick; `allocatedBytes` walks volume directories on the host (blocking, so
    /// the caller runs it on an I/O thread). Bind mounts are host directories, not the container's.
    func refreshDiskUsage(allocatedBytes: @Sendable ([String]) async -> UInt64) async {
        let client = sizeClient
        guard let containers = try? await client.containers() else { return }
        let byName = Dictionary(containers.map { ($0.name, $0) }) { first, _ in first }
        var sizes: [String: UInt64] = [:]
        for component in components + discoveredComponents() {
            guard let container = byName[component.containerName], container.isRunning,
                let details = try? await client.inspect(id: container.id, includeSize: true)
            else { continue }
            let volumes = details.mounts.filter { $0.type == "volume" }.map(\.source)
            sizes[component.name] =
                UInt64(max(0, details.sizeRwBytes ?? 0)) + (volumes.isEmpty ? 0 : await allocatedBytes(volumes))
        }
        diskBytes.withLock { $0 = sizes }
    }

    private static func emptySample(_ component: Component) -> ResourceWatcher_V1_ComponentSample {
        var sample = ResourceWatcher_V1_ComponentSample()
        sample.name = component.name
        sample.clientID = component.clientID
        sample.discovered = component.discovered
        return sample
    }
}
