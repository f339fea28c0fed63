extension ProcessComponentSampler {
    /// What a tick reads of the host before the sampler takes its lock: the process table (the
    /// whole host's, or only the known trees'), the listening sockets when needed, each pid
    /// file, and on a host scan the processes each configured component's locators match. The
    /// `cmdline` patterns run here, unlocked: a slow pattern must not hold up the callers that
    /// only want the sampler's state (`componentNames()`, `discoveredComponents()`, ...).
    struct HostScan {
        let table: ProcessTable
        /// The whole host was scanned (not just the known trees).
        let isFull: Bool
        let discoveryDue: Bool
        let sockets: ListeningSockets?
        /// On a host scan, the PIDs each configured component's locators match.
        let matchedRoots: [String: [Int32]]
        /// On a host scan, each configured component's command-line answers, to keep.
        let commandLineMatches: [String: [ProcessIdentity: Bool]]
        /// Why a component's pid file was not read, by component.
        let pidFileRefusals: [String: String]
    }

    /// What `scanHost` needs of the sampler's state, copied under the lock.
    private struct ScanInputs {
        let configured: [Component]
        let everyComponentFound: Bool
        let knownRoots: [String: [ProcessKey]]
        let lastFullScan: ContinuousClock.Instant?
        let lastDiscovery: ContinuousClock.Instant?
        let commandLineMatches: [String: [ProcessIdentity: Bool]]
    }

    /// Reads the host for one tick (see `HostScan`). Scans the whole host only when something
    /// may have changed: a component not found, a known process gone or replaced (PID reuse), a
    /// pid file naming another process, or the rediscovery interval passed. Otherwise reads just
    /// the known process trees. Blocking (reads /proc); call it from `sample`, never
    /// concurrently with it.
    func scanHost(now: ContinuousClock.Instant, containerRoots: [String: Int32]) -> HostScan {
        let inputs = state.withLock { state in
            ScanInputs(
                configured: state.components.filter { $0.discovered == nil },
                // (A container component has no process to find: it never calls for a scan.)
                everyComponentFound: state.components.allSatisfy {
                    $0.isContainer || !(state.knownRoots[$0.name] ?? []).isEmpty
                },
                knownRoots: state.knownRoots,
                lastFullScan: state.lastFullScan,
                lastDiscovery: state.lastDiscovery,
                commandLineMatches: state.commandLineMatches
            )
        }
        var pidFiles: [String: PidFile] = [:]
        var pidFileRefusals: [String: String] = [:]
        for component in inputs.configured {
            guard let path = component.matcher.pidFile else { continue }
            let reading = PidFile.read(path)
            pidFiles[component.name] = reading
            if case .refused(let reason, let detail) = reading {
                pidFileRefusals[component.name] = detail
                sourceLimits.note(component: component.name, reason: reason, detail: "pid_file \(path): \(detail)")
            }
        }
        let due = inputs.lastFullScan.map { now - $0 >= Self.rediscoveryInterval } ?? true
        let discoveryDue =
            discovery.map { discovery in inputs.lastDiscovery.map { now - $0 >= discovery.interval } ?? true } ?? false
        if !due && !discoveryDue && inputs.everyComponentFound {
            let known = inputs.knownRoots.values.flatMap { $0 }
            let partial = ProcessTable(
                reader: reader,
                pageSizeBytes: pageSizeBytes,
                treesOf: known.map(\.pid) + containerRoots.values
            )
            let intact =
                known.allSatisfy { partial.processes[$0.pid]?.startTicks == $0.startTicks }
                && inputs.configured.allSatisfy { component in
                    guard component.matcher.pidFile != nil else { return true }
                    guard let pid = pidFiles[component.name]?.pid else { return false }
                    return inputs.knownRoots[component.name]?.contains { $0.pid == pid } ?? false
                }
            if intact {
                return HostScan(
                    table: partial,
                    isFull: false,
                    discoveryDue: false,
                    sockets: nil,
                    matchedRoots: [:],
                    commandLineMatches: [:],
                    pidFileRefusals: pidFileRefusals
                )
            }
        }
        let table = ProcessTable(reader: reader, pageSizeBytes: pageSizeBytes)
        let sockets =
            discoveryDue || inputs.configured.contains { !$0.matcher.ports.isEmpty }
            ? ListeningSockets(reader: reader) : nil
        var matchedRoots: [String: [Int32]] = [:]
        var commandLineMatches: [String: [ProcessIdentity: Bool]] = [:]
        for component in inputs.configured {
            var answers = inputs.commandLineMatches[component.name] ?? [:]
            var truncated = 0
            matchedRoots[component.name] = component.matcher.matchingPIDs(
                in: table,
                sockets: sockets,
                pidFileReading: pidFiles[component.name],
                reader: reader,
                commandLineMatches: &answers,
                truncatedCommandLines: &truncated
            )
            commandLineMatches[component.name] = answers
            sourceLimits.note(
                component: component.name,
                reason: "cmdline_truncated",
                count: UInt64(truncated),
                detail: "a command line longer than \(ProcessTable.maxCommandLineBytes) bytes;"
                    + " the cmdline pattern sees its first \(ProcessTable.maxCommandLineBytes)"
            )
        }
        return HostScan(
            table: table,
            isFull: true,
            discoveryDue: discoveryDue,
            sockets: sockets,
            matchedRoots: matchedRoots,
            commandLineMatches: commandLineMatches,
            pidFileRefusals: pidFileRefusals
        )
    }
}
