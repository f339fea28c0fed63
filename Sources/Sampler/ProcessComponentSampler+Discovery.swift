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
    /// name, new process); others become new components named after their rule, up to
    /// `maxComponents` discovered components (process and container ones together): those
    /// beyond are counted once each (`discovered_components_over_limit`, by rule).
    func discover(
        with discovery: Discovery,
        in table: ProcessTable,
        sockets: ListeningSockets?,
        state: inout State
    ) {
        let claimed = configuredTrees(in: table, state: state)
        let found = discovery.finder.find(in: table, sockets: sockets, claimed: claimed, reader: reader)
        let watched = Set(state.components.compactMap(\.discovered?.root))
        var refused: [ServiceFinder.Found] = []
        for service in found {
            let key = ProcessKey(pid: service.pid, startTicks: service.startTicks)
            guard !watched.contains(key) else { continue }
            if takeUp(service, in: table, sockets: sockets, state: &state) { continue }
            // `reservedNames` are the discovered containers' components.
            let discoveredCount = state.components.count { $0.discovered != nil } + state.reservedNames.count
            guard discoveredCount < discovery.maxComponents else {
                refused.append(service)
                continue
            }
            let name = service.rule.instanceName(avoiding: Set(state.components.map(\.name)).union(state.reservedNames))
            state.components.append(
                Component(
                    name: name,
                    clientID: discovery.clientID,
                    matcher: ProcessMatcher(processName: nil, commandLine: nil, pidFile: nil, ports: []),
                    discovered: discoveredProcess(service, in: table, sockets: sockets)
                )
            )
        }
        noteRefused(refused, limit: discovery.maxComponents, state: &state)
        guard let sockets else { return }
        for index in state.components.indices {
            guard let root = state.components[index].discovered?.root,
                table.processes[root.pid]?.startTicks == root.startTicks
            else { continue }
            let ports = sockets.ports(of: table.tree(of: [root.pid]).map(\.pid), reader: reader)
            state.components[index].discovered?.listeningPorts = ports
            if !ports.isEmpty { state.components[index].discovered?.portsPending = false }
        }
    }

    /// Between discovery scans, on a host scan: when a discovered component's process is gone,
    /// the services of its rule found now (a restart: new PID, on the rule's port or command
    /// line) take such components back at once. Costs nothing while every discovered process
    /// runs; only the gone components' rule ports are looked up. Finds no new services.
    func takeUpReplacements(
        with discovery: Discovery,
        in table: ProcessTable,
        sockets: inout ListeningSockets?,
        state: inout State
    ) {
        let goneRules = state.components.compactMap { component -> DiscoveryRule? in
            guard let discovered = component.discovered, !Self.isRunning(discovered.root, in: table) else { return nil }
            return discovered.rule
        }
        guard !goneRules.isEmpty else { return }
        let all = sockets ?? ListeningSockets(reader: reader)
        sockets = all
        let ports = Set(goneRules.flatMap(\.ports))
        let rulePorts = ListeningSockets(inodesByPort: all.inodesByPort.filter { ports.contains($0.key) })
        let claimed = configuredTrees(in: table, state: state)
        let watched = Set(state.components.compactMap(\.discovered?.root))
        for service in discovery.finder.find(in: table, sockets: rulePorts, claimed: claimed, reader: reader)
        where goneRules.contains(service.rule) {
            guard !watched.contains(ProcessKey(pid: service.pid, startTicks: service.startTicks)) else { continue }
            _ = takeUp(service, in: table, sockets: all, state: &state)
        }
    }

    /// Gives `service` the component of its rule whose process is gone, preferring one whose
    /// ports the service listens on; false when there is none.
    private func takeUp(
        _ service: ServiceFinder.Found,
        in table: ProcessTable,
        sockets: ListeningSockets?,
        state: inout State
    ) -> Bool {
        let candidates = state.components.indices.filter { index in
            guard let discovered = state.components[index].discovered else { return false }
            return discovered.rule == service.rule && !Self.isRunning(discovered.root, in: table)
        }
        guard let first = candidates.first else { return false }
        let process = discoveredProcess(service, in: table, sockets: sockets)
        let listens = Set(process.listeningPorts + (process.port.map { [$0] } ?? []))
        let index =
            candidates.first { index in
                let before = state.components[index].discovered!
                return !listens.isDisjoint(with: before.listeningPorts + (before.port.map { [$0] } ?? []))
            } ?? first
        state.components[index].discovered = process
        state.knownRoots[state.components[index].name] = nil
        return true
    }

    /// A service found now as a component's process: its owner, and the ports its tree listens
    /// on (looked for every tick until it listens, when its rule reads a usage source).
    private func discoveredProcess(
        _ service: ServiceFinder.Found,
        in table: ProcessTable,
        sockets: ListeningSockets?
    ) -> DiscoveredProcess {
        let ports = sockets?.ports(of: table.tree(of: [service.pid]).map(\.pid), reader: reader) ?? []
        return DiscoveredProcess(
            rule: service.rule,
            root: ProcessKey(pid: service.pid, startTicks: service.startTicks),
            port: service.port,
            goneSince: nil,
            listeningPorts: ports,
            portsPending: ports.isEmpty && service.rule.usage != .none,
            owner: ProcessOwner.name(ofProcess: service.pid, reader: reader)
        )
    }

    /// The ports of discovered processes taken up before they listened, read every tick until
    /// they listen: a restarted server's usage source comes back as soon as it serves.
    func findPendingPorts(in table: ProcessTable, sockets: inout ListeningSockets?, state: inout State) {
        for index in state.components.indices {
            guard let discovered = state.components[index].discovered, discovered.portsPending,
                Self.isRunning(discovered.root, in: table)
            else { continue }
            let all = sockets ?? ListeningSockets(reader: reader)
            sockets = all
            let ports = all.ports(of: table.tree(of: [discovered.root.pid]).map(\.pid), reader: reader)
            guard !ports.isEmpty else { continue }
            state.components[index].discovered?.listeningPorts = ports
            state.components[index].discovered?.portsPending = false
        }
    }

    /// Counts the services found beyond the cap, each once while it stays refused.
    private func noteRefused(_ refused: [ServiceFinder.Found], limit: Int, state: inout State) {
        let keys = Set(refused.map { ProcessKey(pid: $0.pid, startTicks: $0.startTicks) })
        for service in refused
        where !state.refusedServices.contains(ProcessKey(pid: service.pid, startTicks: service.startTicks)) {
            sourceLimits.note(
                component: service.rule.name,
                reason: "discovered_components_over_limit",
                detail: "discovery.max_components is \(limit): process \(service.pid) is not watched"
            )
        }
        state.refusedServices = keys
    }

    static func isRunning(_ root: ProcessKey, in table: ProcessTable) -> Bool {
        table.processes[root.pid]?.startTicks == root.startTicks
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
        /// The user its process runs as: the name, or the uid when it has none.
        public let owner: String?
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
                        isRunning: $0.goneSince == nil,
                        owner: $0.owner
                    )
                }
            }
        }
    }
}
