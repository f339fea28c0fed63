/// How a configured component is recognised among the host's processes.
struct ProcessMatcher {
    let processName: String?
    let commandLine: Regex<AnyRegexOutput>?
    let pidFile: String?
    let ports: [Int]

    var isEmpty: Bool { processName == nil && commandLine == nil && pidFile == nil && ports.isEmpty }

    /// PIDs of the processes that match (their descendants are added by the caller).
    /// `sockets` is needed only when the matcher has ports.
    func matchingPIDs(in table: ProcessTable, sockets: ListeningSockets?, reader: any ProcReader) -> [Int32] {
        var pids: [Int32] = []
        if !ports.isEmpty, let sockets {
            pids += sockets.pids(listeningOn: ports, among: table.processes.keys, reader: reader)
        }
        if let pidFile, let bytes = reader.contents(of: pidFile),
            let pid = Int32(String(decoding: bytes, as: UTF8.self).trimmingWhitespace), table.processes[pid] != nil
        {
            pids.append(pid)
        }
        guard processName != nil || commandLine != nil else { return pids }
        for process in table.processes.values where matches(process) { pids.append(process.pid) }
        return Array(Set(pids)).sorted()
    }

    private func matches(_ process: ProcessInfo) -> Bool {
        if let processName {
            // The kernel keeps 15 bytes of the name; argv[0] has the full path.
            let executable = process.arguments.first.map { String($0.split(separator: "/").last ?? "") }
            if process.command == String(processName.utf8.prefix(15))! || executable == processName { return true }
        }
        if let commandLine, !process.arguments.isEmpty {
            if (try? commandLine.firstMatch(in: process.arguments.joined(separator: " "))) != nil { return true }
        }
        return false
    }
}

extension String {
    var trimmingWhitespace: String {
        let characters = self.drop(while: \.isWhitespace)
        return String(characters.reversed().drop(while: \.isWhitespace).reversed())
    }
}
