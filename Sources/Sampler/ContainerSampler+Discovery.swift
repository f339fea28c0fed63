import Synchronization

/// Discovery's part of the container sampler: which running containers are well-known AI
/// services by their image, which components they become, and when a gone one is dropped
/// (DESIGN §5, `discovery`). The lifecycle is the process discovery's: a container that stops or
/// is removed reads `down` for the grace period, then is dropped; a new container of the same
/// service found while its component is down takes the component back.
extension ContainerSampler {
    /// Discovery's settings, when it is on.
    struct Discovery: Sendable {
        /// The rules that name images.
        let rules: [DiscoveryRule]
        let clientID: String
        let interval: Duration
        let gracePeriod: Duration
        /// Discovered components at most, process and container ones together (`max_components`).
        let maxComponents: Int
    }

    /// A container discovered by its image, as now watched.
    struct DiscoveredContainer: Sendable {
        var component: Component
        let rule: DiscoveryRule
        /// The TCP ports it publishes on the host, by the container's own port.
        var publishedPorts: [Int: Int]
        /// Whether it shares the host's network (its ports are the host's own).
        var hostNetwork: Bool
        /// Since when it has not been running (stopped or removed), nil while it runs.
        var goneSince: ContinuousClock.Instant?
    }

    struct DiscoveryState: Sendable {
        var containers: [DiscoveredContainer] = []
        /// When the engine's containers were last matched against the rules.
        var lastScan: ContinuousClock.Instant?
        /// Discovered components dropped since the last tick took them.
        var dropped: [String] = []
        /// Whether the engine's absence was logged (once, at info) while nothing is discovered.
        var reportedNoEngine = false
        /// Discovered process components now, which count toward the cap with the containers.
        var discoveredProcesses = 0
        /// Containers found beyond the cap at the last scan (each is counted once).
        var refused: Set<String> = []
    }

    /// Tells discovery how many process components it found: they and the discovered containers
    /// share `discovery.max_components`.
    func noteDiscoveredProcesses(_ count: Int) {
        discoveryState.withLock { $0.discoveredProcesses = count }
    }

    /// Stats lanes kept for discovered containers (they are not known at start).
    static let discoveryLanes = 4

    func discoveryDue(now: ContinuousClock.Instant) -> Bool {
        guard let discovery else { return false }
        return discoveryState.withLock { state in state.lastScan.map { now - $0 >= discovery.interval } ?? true }
    }

    /// Records a scan attempt at `now`: the next one is due a discovery interval later.
    func markScanned(at now: ContinuousClock.Instant) {
        discoveryState.withLock { $0.lastScan = now }
    }

    /// The discovered container components, in the order they were found.
    func discoveredComponents() -> [Component] {
        discoveryState.withLock { $0.containers.map(\.component) }
    }

    /// The discovered components, and those dropped since the last call (for the tick).
    func takeDiscovered() -> (components: [Component], dropped: [String]) {
        discoveryState.withLock { state in
            defer { state.dropped = [] }
            return (state.containers.map(\.component), state.dropped)
        }
    }

    /// A discovered container as the model sources see it.
    struct DiscoveredService: Sendable, Equatable {
        let name: String
        let clientID: String
        let rule: DiscoveryRule
        /// Host TCP ports it publishes, by the container's own port.
        let publishedPorts: [Int: Int]
        /// Whether it shares the host's network.
        let hostNetwork: Bool
    }

    /// The discovered containers now running.
    /// The discovered containers running now, as sources of container logs.
    func discoveredLogSources() -> [ContainerLogReader.Source] {
        discoveryState.withLock { state in
            state.containers.filter { $0.goneSince == nil }.map {
                ContainerLogReader.Source(
                    component: $0.component.name,
                    clientID: $0.component.clientID,
                    containerName: $0.component.containerName
                )
            }
        }
    }

    func discoveredServices() -> [DiscoveredService] {
        discoveryState.withLock { state in
            state.containers.filter { $0.goneSince == nil }.map {
                DiscoveredService(
                    name: $0.component.name,
                    clientID: $0.component.clientID,
                    rule: $0.rule,
                    publishedPorts: $0.publishedPorts,
                    hostNetwork: $0.hostNetwork
                )
            }
        }
    }

    /// Updates the discovered containers from the engine's list: those running again are back,
    /// those gone for the grace period are dropped, and when `due`, running containers of a
    /// rule's image that nothing watches yet become components named after the rule, outside
    /// `reservedNames`. Returns the discovered components to sample this tick.
    func discover(
        in containers: [DockerContainer],
        due: Bool,
        reservedNames: Set<String>,
        now: ContinuousClock.Instant
    ) -> [Component] {
        guard let discovery else { return [] }
        let byName = Dictionary(containers.map { ($0.name, $0) }) { first, _ in first }
        return discoveryState.withLock { state in
            for index in state.containers.indices {
                if let container = byName[state.containers[index].component.containerName], container.isRunning {
                    state.containers[index].goneSince = nil
                    state.containers[index].publishedPorts = container.publishedTCPPorts
                    state.containers[index].hostNetwork = container.networkMode == "host"
                } else if state.containers[index].goneSince == nil {
                    state.containers[index].goneSince = now
                }
            }
            let gone = state.containers.filter { $0.goneSince.map { now - $0 >= discovery.gracePeriod } ?? false }
            if !gone.isEmpty {
                state.containers.removeAll { $0.goneSince.map { now - $0 >= discovery.gracePeriod } ?? false }
                state.dropped += gone.map(\.component.name)
            }
            if due {
                state.lastScan = now
                scan(containers, with: discovery, reservedNames: reservedNames, state: &state)
            }
            return state.containers.map(\.component)
        }
    }

    private func scan(
        _ containers: [DockerContainer],
        with discovery: Discovery,
        reservedNames: Set<String>,
        state: inout DiscoveryState
    ) {
        let configured = Set(components.map(\.containerName))
        var watched = Set(state.containers.map(\.component.containerName))
        var refused: Set<String> = []
        defer { state.refused = refused }
        // Oldest first, so the longest-running instance keeps the plain name.
        let candidates = containers.filter { $0.isRunning && !configured.contains($0.name) }
            .sorted { ($0.createdUnixSeconds, $0.name) < ($1.createdUnixSeconds, $1.name) }
        for rule in discovery.rules {
            for container in candidates where !watched.contains(container.name) && rule.matches(image: container.image)
            {
                watched.insert(container.name)
                func watching(as name: String) -> DiscoveredContainer {
                    DiscoveredContainer(
                        component: Component(
                            name: name,
                            clientID: discovery.clientID,
                            containerName: container.name,
                            discovered: true
                        ),
                        rule: rule,
                        publishedPorts: container.publishedTCPPorts,
                        hostNetwork: container.networkMode == "host",
                        goneSince: nil
                    )
                }
                // A new container of a service whose component is down (recreated under
                // another name) takes that component back.
                if let index = state.containers.firstIndex(where: { $0.rule == rule && $0.goneSince != nil }) {
                    state.containers[index] = watching(as: state.containers[index].component.name)
                    continue
                }
                guard state.containers.count + state.discoveredProcesses < discovery.maxComponents else {
                    refused.insert(container.name)
                    if !state.refused.contains(container.name) {
                        sourceLimits.note(
                            component: rule.name,
                            reason: "discovered_components_over_limit",
                            detail:
                                "discovery.max_components is \(discovery.maxComponents): container \(container.name) is not watched"
                        )
                    }
                    continue
                }
                let name = rule.instanceName(
                    avoiding: reservedNames.union(components.map(\.name)).union(state.containers.map(\.component.name))
                )
                state.containers.append(watching(as: name))
                logger.info(
                    "discovered a container",
                    metadata: ["component": "\(name)", "container": "\(container.name)", "image": "\(container.image)"]
                )
            }
        }
    }

    /// Logs once that containers are not discovered because the engine cannot be asked.
    func noteNoEngineForDiscovery(_ message: String) {
        let first = discoveryState.withLock { state in
            defer { state.reportedNoEngine = true }
            return !state.reportedNoEngine
        }
        if first {
            logger.info("no containers discovered: no Docker engine answers", metadata: ["reason": "\(message)"])
        }
    }
}
