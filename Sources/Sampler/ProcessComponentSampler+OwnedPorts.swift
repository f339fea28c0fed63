extension ProcessComponentSampler {
    /// Of each component's `ports`, those one of its own processes listens on now (its process
    /// tree at the last tick holds the listening socket's inode). A port that another process
    /// holds is not the component's: scraping it would read, and believe, whatever that process
    /// serves. Components not sampled as processes yet own no port.
    public func ownedPorts(_ portsByComponent: [String: [Int]]) -> [String: Set<Int>] {
        guard !portsByComponent.isEmpty else { return [:] }
        let trees = state.withLock { state in
            portsByComponent.keys.map { ($0, (state.treePIDs[$0] ?? []) + (state.containerTreePIDs[$0] ?? [])) }
        }
        let sockets = ListeningSockets(reader: reader)
        var owned: [String: Set<Int>] = [:]
        for (component, pids) in trees where !pids.isEmpty {
            for port in portsByComponent[component] ?? []
            where !sockets.pids(listeningOn: [port], among: pids, reader: reader).isEmpty {
                owned[component, default: []].insert(port)
            }
        }
        return owned
    }
}
