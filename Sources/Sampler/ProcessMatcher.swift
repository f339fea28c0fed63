/// A process as the command-line match cache knows it. `exec` keeps the PID and the start
/// time but changes the kernel's command name, so a process that execs is matched afresh; one
/// that rewrites its own argv in place (setproctitle) keeps its first answer.
struct ProcessIdentity: Hashable {
    let pid: Int32
    let startTicks: UInt64
    let command: String
}

/// How a configured component is recognised among the host's processes.
struct ProcessMatcher {
    let processName: String?
    let commandLine: Regex<AnyRegexOutput>?
    let pidFile: String?
    let ports: [Int]

    var isEmpty: Bool { processName == nil && commandLine == nil && pidFile == nil && ports.isEmpty }

    /// PIDs of the processes that match (their descendants are added by the caller).
    /// `sockets` is needed only when the matcher has ports, `pidFileReading` (the pid file read
    /// this tick) when it has a pid file. `commandLineMatches` holds the command-line pattern's
    /// answer per process from the last scan: only processes new since then are matched against
    /// it (a scan visits every process on the host), and processes gone are forgotten. Those
    /// new ones whose command line was cut (`ProcessTable.maxCommandLineBytes`) are counted in
    /// `truncatedCommandLines`. Runs the pattern: call it without holding the sampler's lock.
    func matchingPIDs(
        in table: ProcessTable,
        sockets: ListeningSockets?,
        pidFileReading: PidFile?,
        reader: any ProcReader,
        commandLineMatches: inout [ProcessIdentity: Bool],
        truncatedCommandLines: inout Int
    ) -> [Int32] {
        var pids: [Int32] = []
        // Ports name the component's processes only when nothing else does: with a process name,
        // a command line or a pid file, `ports` say where it listens, and a process of someone
        // else's on one of them (nothing of the component's listening there) is not taken in.
        if !ports.isEmpty, processName == nil, commandLine == nil, pidFile == nil, let sockets {
            pids += sockets.pids(listeningOn: ports, among: table.processes.keys, reader: reader)
        }
        if let pid = pidFileReading?.pid, table.processes[pid] != nil {
            pids.append(pid)
        }
        if let processName {
            // The kernel keeps 15 bytes of the name; argv[0] has the full path.
            pids += table.pids(named: processName, reader: reader)
        }
        if let commandLine {
            var answers: [ProcessIdentity: Bool] = [:]
            answers.reserveCapacity(commandLineMatches.count + 16)
            // No arguments: a kernel thread, or a process between exec and its new argv (not cached).
            for process in table.processes.values where !process.arguments.isEmpty {
                let identity = ProcessIdentity(
                    pid: process.pid,
                    startTicks: process.startTicks,
                    command: process.command
                )
                let matches: Bool
                if let known = commandLineMatches[identity] {
                    matches = known
                } else {
                    matches = (try? commandLine.firstMatch(in: process.arguments.joined(separator: " "))) != nil
                    if process.argumentsTruncated { truncatedCommandLines += 1 }
                }
                answers[identity] = matches
                if matches { pids.append(process.pid) }
            }
            commandLineMatches = answers
        }
        return Array(Set(pids)).sorted()
    }
}

extension String {
    var trimmingWhitespace: String {
        let characters = self.drop(while: \.isWhitespace)
        return String(characters.reversed().drop(while: \.isWhitespace).reversed())
    }
}
