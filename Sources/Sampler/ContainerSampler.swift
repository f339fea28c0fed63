import HTTPTransport
import Logging
import NIOPosix
import Synchronization
import WatcherModel
import WatcherProto

/// Samples components found by `container_name`, and with discovery on, the containers of
/// well-known AI services found by image (`DiscoveryRule.images`; `ContainerSampler+Discovery.swift`).
///
/// Figures come from the kernel, not the engine: each running container's cgroup, found from its
/// main process (`ContainerKernelReader`), read on the I/O pool every tick. The engine names the
/// containers and says what happens to them: a list and inspects at start, on every discovery
/// interval and after its event stream breaks (`reconcile`), and its `/events` stream between
/// (`watchEngine()`, run beside the tick loop). A tick asks the engine nothing for a container it
/// knows running; a slow or absent engine delays only containers it has not named yet. The
/// engine's stats endpoint is the fallback for a container whose cgroup cannot be read
/// (`ContainerSampler+StatsFallback.swift`).
///
/// An engine that cannot be reached or refuses is an operator-visible fact: the batch carries it
/// as a source problem (so `/health` turns degraded), a warning is logged when it starts (and a
/// notice when it ends), and containers it has not named read `unknown` with its message.
/// Discovery alone does not need an engine: without one and with no container discovered, that
/// is one info line, not a problem.
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
    /// Requests in flight at once for inspects (and fallback stats), at most; each lane is a
    /// connection (and a thread) of its own.
    static let maximumLanes = 32
    /// How long the engine may go without answering anything before a tick asks `/_ping`.
    static let livenessInterval = Duration.seconds(5)

    let engine: DockerEngine
    let lanes: [DockerClient]
    /// The event stream's connection: held for as long as the stream lasts.
    let eventsClient: DockerClient
    /// Inspects of started containers, for the event watcher.
    let watcherClient: DockerClient
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
    /// The containers as the engine last told (list, inspects, events).
    let table = Mutex(ContainerTable())
    /// When to ask the engine, and what it last said.
    let engineState = Mutex(EngineState())
    /// How often the engine's list is taken again while its events stream (every discovery interval).
    let reconcileInterval: Duration
    let kernel: ContainerKernelReader
    let ioThreadPool: NIOThreadPool
    /// Where cut outside input (over-long event lines) is counted.
    let sourceLimits: SourceLimits
    let calculator = Mutex(DockerStatsCalculator())
    /// Containers whose figures come from the stats endpoint (cgroup unreadable), logged once each.
    let statsFallbackLogged = Mutex<Set<String>>([])
    /// Containers whose main process the engine confirmed but the agent's /proc does not show,
    /// by ID: sampled from the stats endpoint.
    let invisibleProcesses = Mutex<[String: Int32]>([:])
    /// Disk bytes per component (writable layer + volumes), from the slower size refresh.
    private let diskBytes = Mutex<[String: UInt64]>([:])
    private let problem = Mutex<EngineProblem?>(nil)
    /// The host ports each running container component publishes, as the engine last said:
    /// those ports are the container's own (a proxy process of the engine holds them on the host).
    let publishedHostPorts = Mutex<[String: Set<Int>]>([:])

    /// Nil when no component has a `container_name` and discovery is off. `lanes` bounds the
    /// inspect (and fallback stats) requests in flight.
    init?(
        components: [ComponentConfig],
        discovery: DiscoveryConfig = DiscoveryConfig(),
        rules: [DiscoveryRule] = DiscoveryRules.all,
        defaultClientID: String = "default",
        engine: DockerEngine,
        reader: any ProcReader = LiveProcReader(),
        cgroupMountRoot: String = "/sys/fs/cgroup",
        ioThreadPool: NIOThreadPool = .singleton,
        sourceLimits: SourceLimits = SourceLimits(),
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
        let interval = Duration.milliseconds(Int64((discovery.intervalSeconds * 1000).rounded()))
        self.reconcileInterval = interval
        self.discovery =
            discovery.enabled
            ? Discovery(
                rules: rules.filter { !$0.images.isEmpty },
                clientID: defaultClientID,
                interval: interval,
                gracePeriod: .milliseconds(Int64((discovery.gracePeriodSeconds * 1000).rounded())),
                maxComponents: discovery.maxComponents
            ) : nil
        self.engine = engine
        // Discovered containers are not known yet: a few lanes for them.
        let wanted = containers.count + (discovery.enabled ? Self.discoveryLanes : 0)
        self.lanes = (0..<max(1, min(lanes, wanted))).map { _ in engine.makeClient() }
        self.eventsClient = engine.makeClient()
        self.watcherClient = engine.makeClient()
        self.sizeClient = engine.makeClient(requestTimeout: .seconds(120))
        self.kernel = ContainerKernelReader(reader: reader, mountRoot: cgroupMountRoot)
        self.ioThreadPool = ioThreadPool
        self.sourceLimits = sourceLimits
        self.logger = logger
    }

    /// The engine's current problem, nil while it answers.
    var engineProblem: EngineProblem? { problem.withLock { $0 } }

    /// One sample per container component (configured and discovered), and the main process of
    /// each running one. The engine is asked only when something is due (`engineStep`), for at
    /// most `timeout`; the figures are read from the kernel. Discovery names new components
    /// outside `reservedNames` (the process components' names).
    func sample(
        timeout: Duration,
        reservedNames: Set<String> = [],
        now: ContinuousClock.Instant = .now
    ) async -> ContainerSamples {
        let deadline = ContinuousClock.now + timeout
        // One engine step at a time: one a stuck engine still holds counts as no answer.
        let free = engineState.withLock { state in
            defer { state.stepRunning = true }
            return !state.stepRunning
        }
        var finished = false
        if free {
            finished = await within(timeout) {
                defer { self.engineState.withLock { $0.stepRunning = false } }
                await self.engineStep(reservedNames: reservedNames, now: now)
            }
        }
        if !finished {
            noteEngine(
                .failure(
                    "no answer from the Docker engine at unix://\(engine.socketPath) within \(timeout.inSeconds) s"
                )
            )
        }
        let (discovered, dropped) = takeDiscovered()
        let watched = components + discovered
        var engineProblem = engineState.withLock { $0.failure }
        if watched.isEmpty, let message = engineProblem {
            // Discovery alone: an engine that is absent or refuses is not a problem of anything watched.
            noteNoEngineForDiscovery(message)
            engineProblem = nil
        }
        record(problem: engineProblem)

        var plan = ContainerTickPlan(
            watched: watched,
            table: table.withLock { $0 },
            engineProblem: engineProblem,
            invisible: invisibleProcesses.withLock { $0 }
        )
        let targets = plan.targets
        let outcomes =
            targets.isEmpty
            ? [:] : ((try? await ioThreadPool.runIfActive { self.kernel.read(targets, keepingOthers: false) }) ?? [:])
        plan.take(outcomes, diskBytes: diskBytes.withLock { $0 })
        if !plan.processesGone.isEmpty {
            // The kernel contradicts the table (a restart the engine has not told of yet): ask
            // the engine again now, within what is left of the budget, and read those again.
            for (id, pid) in plan.processesGone { table.withLock { $0.forgetProcess(of: id, pid: pid) } }
            engineState.withLock { $0.reconcileRequested = true }
            let remaining = deadline - ContinuousClock.now
            if remaining > .zero {
                let ids = plan.processesGone.map(\.containerID)
                _ = await within(remaining) { await self.inspect(ids) }
                var again = ContainerTickPlan(
                    watched: plan.goneComponents,
                    table: table.withLock { $0 },
                    engineProblem: engineProblem
                )
                let targets = again.targets
                let outcomes =
                    targets.isEmpty
                    ? [:]
                    : ((try? await ioThreadPool.runIfActive { self.kernel.read(targets, keepingOthers: true) }) ?? [:])
                again.take(outcomes, diskBytes: diskBytes.withLock { $0 })
                // The engine gave the same PID again: the process runs where the agent cannot see it.
                let gone = Dictionary(plan.processesGone.map { ($0.containerID, $0.pid) }) { first, _ in first }
                let invisible = again.markInvisible(confirmed: gone)
                if !invisible.isEmpty { invisibleProcesses.withLock { $0.merge(invisible) { _, new in new } } }
                plan.merge(again)
            }
        }
        if !plan.unreadable.isEmpty {
            let remaining = deadline - ContinuousClock.now
            await sampleFromStats(plan.unreadable, within: remaining, budget: timeout, into: &plan)
        }
        publishedHostPorts.withLock { published in
            published = plan.publishedPorts
        }
        return ContainerSamples(
            samples: plan.samples,
            mainProcessIDs: plan.mainProcessIDs,
            containerProcessIDs: plan.containerProcessIDs,
            discovered: discovered.map(\.name),
            dropped: dropped
        )
    }

    /// Runs `work`, waiting for it at most `timeout`; whether it finished. Past the timeout it is
    /// cancelled and left to wind down on its own (a request in flight takes up to a second to
    /// notice): the tick does not wait for it.
    func within(_ timeout: Duration, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        let outcome = FirstOutcome()
        let worker = Task {
            await work()
            outcome.settle(true)
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            outcome.settle(false)
        }
        let finished = await outcome.value()
        timer.cancel()
        if !finished { worker.cancel() }
        return finished
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
                "Docker engine unavailable: containers it has not named read unknown; figures of known ones go on",
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
            let volumeBytes = volumes.isEmpty ? 0 : await allocatedBytes(volumes)
            // The engine's figure is outside input: a sum past UInt64 saturates, never traps.
            let (total, overflow) = UInt64(max(0, details.sizeRwBytes ?? 0)).addingReportingOverflow(volumeBytes)
            sizes[component.name] = overflow ? .max : total
        }
        diskBytes.withLock { $0 = sizes }
    }

    static func emptySample(_ component: Component) -> ResourceWatcher_V1_ComponentSample {
        var sample = ResourceWatcher_V1_ComponentSample()
        sample.name = component.name
        sample.clientID = component.clientID
        sample.discovered = component.discovered
        return sample
    }
}

/// The first of several racing outcomes, awaited once.
private final class FirstOutcome: Sendable {
    private struct State {
        var value: Bool?
        var waiter: CheckedContinuation<Bool, Never>?
    }
    private let state = Mutex(State())

    /// Settles the outcome, unless settled already.
    func settle(_ value: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    func value() async -> Bool {
        await withCheckedContinuation { continuation in
            let settled = state.withLock { state -> Bool? in
                if let value = state.value { return value }
                state.waiter = continuation
                return nil
            }
            if let settled { continuation.resume(returning: settled) }
        }
    }
}
