/// Finds the processes of well-known AI services in one host scan (DESIGN §5, `discovery`).
///
/// A process matches a rule by executable, command line or listening port; of a service's
/// process tree only the topmost matching process is reported (Ollama's runners are children
/// named `ollama` too). Processes in `claimed` (the trees of configured components) are never
/// reported: a configured component wins over a discovered one.
struct ServiceFinder {
    let rules: [DiscoveryRule]

    /// One service instance found: the rule it matched and its topmost process.
    struct Found: Equatable {
        let rule: DiscoveryRule
        let pid: Int32
        let startTicks: UInt64
        /// The rule's port it listens on, when it matched by port or listens on one anyway.
        let port: Int?
    }

    /// The services in `table`, ordered by rule then by process start (oldest first, so the
    /// longest-running instance keeps the plain name). `sockets` is needed for port rules.
    func find(
        in table: ProcessTable,
        sockets: ListeningSockets?,
        claimed: Set<Int32>,
        reader: any ProcReader
    ) -> [Found] {
        var ruleOf: [Int32: Int] = [:]
        var portOf: [Int32: Int] = [:]
        for (index, rule) in rules.enumerated() {
            var pids: [Int32] = []
            for executable in rule.executables { pids += table.pids(named: executable, reader: reader) }
            if !rule.commandLineContains.isEmpty {
                for process in table.processes.values where !process.arguments.isEmpty {
                    let line = process.arguments.joined(separator: " ")
                    if rule.commandLineContains.contains(where: { line.contains($0) }) { pids.append(process.pid) }
                }
            }
            if let sockets {
                for port in rule.ports where sockets.inodesByPort[port] != nil {
                    for pid in sockets.pids(listeningOn: [port], among: table.processes.keys, reader: reader) {
                        pids.append(pid)
                        portOf[pid] = portOf[pid] ?? port
                    }
                }
            }
            for pid in pids where ruleOf[pid] == nil && !claimed.contains(pid) { ruleOf[pid] = index }
        }
        var found: [Found] = []
        for (pid, index) in ruleOf {
            guard let process = table.processes[pid], !hasAncestor(of: pid, matching: index, ruleOf, table) else {
                continue
            }
            found.append(Found(rule: rules[index], pid: pid, startTicks: process.startTicks, port: portOf[pid]))
        }
        let order = Dictionary(uniqueKeysWithValues: rules.enumerated().map { ($0.element.name, $0.offset) })
        return found.sorted {
            (order[$0.rule.name]!, $0.startTicks, $0.pid) < (order[$1.rule.name]!, $1.startTicks, $1.pid)
        }
    }

    /// Whether a process above `pid` matched the same rule (then `pid` is part of that service).
    private func hasAncestor(
        of pid: Int32,
        matching index: Int,
        _ ruleOf: [Int32: Int],
        _ table: ProcessTable
    )
        -> Bool
    {
        var current = table.processes[pid]?.parentPID ?? 0
        var steps = 0
        while current > 1, steps < 64, let process = table.processes[current] {
            if ruleOf[current] == index { return true }
            current = process.parentPID
            steps += 1
        }
        return false
    }
}
