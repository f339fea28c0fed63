import Synchronization
import WatcherProto

/// Discovery's part of the sampler: which services a host scan finds, which components they
/// become, and when a gone one is dropped (DESIGN §5, `discovery`).
extension ProcessComponentSampler {
    /// Names of the discovered components dropped since the last call (gone for the grace
    /// period, or claimed by a configured component): the alert evaluator forgets them.
    public func takeDroppedComponents() -> [String] {
        state.withLock { state in
            defer { state.dropped = [] }
            return state.dropped
        }
    }

    /// Runs discovery over a host scan: a service already watched keeps its component; one whose
    /// component is down (its process gone, in the grace period) takes that component back (same
    /// name, new process); others become new components named after their rule.
    func discover(
        with discovery: Discovery,
        in table: ProcessTable,
        sockets: ListeningSockets?,
        state: inout State
    ) {
        let claimed = configuredTrees(in: table, state: state)
        let found = discovery.finder.find(in: table, sockets: sockets, claimed: claimed, reader: reader)
        let watched = Set(state.components.compactMap(\.discovered?.root))
        for service in found {
            let key = ProcessKey(pid: service.pid, startTicks: service.startTicks)
            guard !watched.contains(key) else { continue }
            let process = DiscoveredProcess(rule: service.rule, root: key, port: service.port, goneSince: nil)
            if let index = state.components.firstIndex(where: {
                $0.discovered?.rule == service.rule
                    && (table.processes[$0.discovered!.root.pid]?.startTicks != $0.discovered!.root.startTicks)
            }) {
                state.components[index].discovered = process
                state.knownRoots[state.components[index].name] = nil
                continue
            }
            let name = service.rule.instanceName(avoiding: Set(state.components.map(\.name)).union(state.reservedNames))
            state.components.append(
                Component(
                    name: name,
                    clientID: discovery.clientID,
                    matcher: ProcessMatcher(processName: nil, commandLine: nil, pidFile: nil, ports: []),
                    discovered: process
                )
            )
        }
        guard let sockets else { return }
        for index in state.components.indices {
            guard let root = state.components[index].discovered?.root,
                table.processes[root.pid]?.startTicks == root.startTicks
            else { continue }
            state.components[index].discovered?.listeningPorts = sockets.ports(
                of: table.tree(of: [root.pid]).map(\.pid),
                reader: reader
            )
        }
    }

    /// Drops discovered components gone for longer than the grace period, and those whose
    /// process now belongs to a configured component's tree (the configured one wins).
    func dropDiscovered(
        with discovery: Discovery,
        samples: inout [ResourceWatcher_V1_ComponentSample],
        table: ProcessTable,
        now: ContinuousClock.Instant,
        state: inout State
    ) {
        let claimed = configuredTrees(in: table, state: state)
        let drop = Set(
            state.components.compactMap { component -> String? in
                guard let discovered = component.discovered else { return nil }
                if let gone = discovered.goneSince, now - gone >= discovery.gracePeriod { return component.name }
                return claimed.contains(discovered.root.pid) ? component.name : nil
            }
        )
        guard !drop.isEmpty else { return }
        state.components.removeAll { drop.contains($0.name) }
        samples.removeAll { drop.contains($0.name) }
        for name in drop {
            state.knownRoots[name] = nil
            state.previousTicks[name] = nil
            state.previousNetwork[name] = nil
            state.previousIO[name] = nil
            state.limits[name] = nil
            state.commandLineMatches[name] = nil
            state.treePIDs[name] = nil
        }
        state.dropped += drop.sorted()
    }

    /// PIDs in the process trees of configured components (as last found) and of watched
    /// containers: discovery leaves them.
    private func configuredTrees(in table: ProcessTable, state: State) -> Set<Int32> {
        var claimed = Set(state.containerTreePIDs.values.joined())
        for component in state.components where component.discovered == nil {
            for process in table.tree(of: (state.knownRoots[component.name] ?? []).map(\.pid)) {
                claimed.insert(process.pid)
            }
        }
        return claimed
    }

    /// The names of the components sampled (configured and discovered).
    public func componentNames() -> Set<String> {
        state.withLock { Set($0.components.map(\.name)) }
    }

    /// Each component's process tree at the last tick, by component name: the process
    /// components' and the container components' (their main process's tree).
    public func processTrees() -> [String: [Int32]] {
        state.withLock { $0.treePIDs.merging($0.containerTreePIDs) { _, container in container } }
    }

    /// A discovered component as now watched.
    public struct DiscoveredComponent: Sendable, Equatable {
        public let name: String
        public let rule: DiscoveryRule
        /// The service's topmost process.
        public let pid: Int32
        /// The rule's port the service listens on, when it was found by it.
        public let port: Int?
        /// The TCP ports its process tree listened on at the last discovery scan, ascending.
        public let listeningPorts: [Int]
        public let clientID: String
        /// False while its process is gone (the component reads down, in the grace period).
        public let isRunning: Bool
    }

    /// The discovered components now watched, in the order they are sampled.
    public func discoveredComponents() -> [DiscoveredComponent] {
        state.withLock { state in
            state.components.compactMap { component in
                component.discovered.map {
                    DiscoveredComponent(
                        name: component.name,
                        rule: $0.rule,
                        pid: $0.root.pid,
                        port: $0.port,
                        listeningPorts: $0.listeningPorts,
                        clientID: component.clientID,
                        isRunning: $0.goneSince == nil
                    )
                }
            }
        }
    }
}
