/// One process as /proc describes it at one moment.
struct ProcessInfo: Equatable {
    let pid: Int32
    let parentPID: Int32
    /// The kernel's command name (at most 15 bytes).
    let command: String
    /// argv of the process, empty for kernel threads; at most the first
    /// `ProcessTable.maxCommandLineBytes` of it.
    let arguments: [String]
    /// utime + stime, in clock ticks.
    let cpuTicks: UInt64
    /// Start time since boot, in clock ticks: with the pid, identifies a process across PID reuse.
    let startTicks: UInt64
    let residentBytes: UInt64
    let threadCount: UInt64
    /// The command line was longer than `ProcessTable.maxCommandLineBytes`: `arguments` are cut.
    var argumentsTruncated = false
}

/// A snapshot of every process on the host, read from /proc/<pid>/stat and, on host scans,
/// /proc/<pid>/cmdline. A process that has exited and waits for its parent to reap it (a
/// zombie, state Z or X) is not in it: it runs nothing and holds no memory, so a component
/// whose only process it is reads down.
struct ProcessTable {
    let processes: [Int32: ProcessInfo]
    let childrenByParent: [Int32: [Int32]]
    /// PIDs by kernel command name and by argv[0]'s base name, so `process_name` is a lookup.
    let pidsByName: [String: [Int32]]

    /// The most of a command line read: a process decides its own (2 MB is possible), and a
    /// `cmdline` pattern runs over what is kept. Patterns see the first 4 KiB.
    static let maxCommandLineBytes = 4096

    /// Every process on the host.
    init(reader: any ProcReader, root: String = "/proc", pageSizeBytes: UInt64) {
        var processes: [Int32: ProcessInfo] = [:]
        for name in reader.entries(of: root) {
            guard let pid = Int32(name),
                let process = Self.read(pid: pid, reader: reader, root: root, pageSizeBytes: pageSizeBytes)
            else { continue }
            processes[pid] = process
        }
        self.init(processes: processes)
    }

    /// Only `roots` and their descendants, found through /proc/<pid>/task/<tid>/children:
    /// the cost follows the components' processes, not the host's.
    init(reader: any ProcReader, root: String = "/proc", pageSizeBytes: UInt64, treesOf roots: [Int32]) {
        var processes: [Int32: ProcessInfo] = [:]
        var stack = roots
        while let pid = stack.popLast() {
            guard processes[pid] == nil,
                let process = Self.read(
                    pid: pid,
                    reader: reader,
                    root: root,
                    pageSizeBytes: pageSizeBytes,
                    withArguments: false
                )
            else { continue }
            processes[pid] = process
            // A single-threaded process has one task, its own: no need to list the directory.
            let tasks = process.threadCount <= 1 ? ["\(pid)"] : reader.entries(of: "\(root)/\(pid)/task")
            for task in tasks {
                guard let children = reader.freshContents(of: "\(root)/\(pid)/task/\(task)/children") else {
                    continue
                }
                for child in ProcBytes.numbers(children[...], limit: Int.max) where child <= UInt64(Int32.max) {
                    stack.append(Int32(child))
                }
            }
        }
        self.init(processes: processes)
    }

    private init(processes: [Int32: ProcessInfo]) {
        self.processes = processes
        var children: [Int32: [Int32]] = [:]
        var names: [String: [Int32]] = [:]
        for process in processes.values {
            children[process.parentPID, default: []].append(process.pid)
            names[process.command, default: []].append(process.pid)
            if let executable = process.arguments.first?.split(separator: "/").last.map(String.init),
                executable != process.command
            {
                names[executable, default: []].append(process.pid)
            }
        }
        self.childrenByParent = children
        self.pidsByName = names
    }

    /// Reads one process; `withArguments` is only needed to match components (host scans).
    private static func read(
        pid: Int32,
        reader: any ProcReader,
        root: String,
        pageSizeBytes: UInt64,
        withArguments: Bool = true
    ) -> ProcessInfo? {
        // Host scans read every process once; the trees of watched processes are read every
        // tick, from files kept open.
        let read = withArguments ? reader.contents(of:) : reader.freshContents(of:)
        guard let stat = read("\(root)/\(pid)/stat"), let parsed = parseStat(stat), !hasExited(stat) else {
            return nil
        }
        let commandLine =
            withArguments ? reader.prefix(of: "\(root)/\(pid)/cmdline", maxBytes: maxCommandLineBytes) : nil
        let arguments = (commandLine?.bytes ?? []).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return ProcessInfo(
            pid: pid,
            parentPID: parsed.parentPID,
            command: parsed.command,
            arguments: arguments,
            cpuTicks: parsed.cpuTicks,
            startTicks: parsed.startTicks,
            residentBytes: parsed.residentPages * pageSizeBytes,
            threadCount: parsed.threadCount,
            argumentsTruncated: commandLine?.truncated ?? false
        )
    }

    /// PIDs whose kernel command name or argv[0] base name is `name`. A name longer than the 15
    /// bytes the kernel keeps also matches its cut form when the process's executable
    /// (`/proc/<pid>/exe`) is `name` or cannot be read: `resource-watcherPackageTests` has the
    /// command name `resource-watche` too, and is not `resource-watcher`.
    func pids(named name: String, reader: any ProcReader, root: String = "/proc") -> [Int32] {
        var pids = pidsByName[name] ?? []
        if name.utf8.count > 15, let truncated = String(name.utf8.prefix(15)) {
            for pid in pidsByName[truncated] ?? [] where !pids.contains(pid) {
                let executable = reader.linkTarget(of: "\(root)/\(pid)/exe").map { target in
                    String(target.split(separator: "/").last ?? "").replacing(" (deleted)", with: "")
                }
                if executable == nil || executable == name { pids.append(pid) }
            }
        }
        return pids
    }

    /// `pids` and all their descendants.
    func tree(of pids: [Int32]) -> [ProcessInfo] {
        var seen = Set<Int32>()
        var stack = pids
        var result: [ProcessInfo] = []
        while let pid = stack.popLast() {
            guard seen.insert(pid).inserted, let process = processes[pid] else { continue }
            result.append(process)
            stack += childrenByParent[pid] ?? []
        }
        return result
    }

    /// Whether a /proc/<pid>/stat line's state (the field after the command) is Z (zombie) or X (dead).
    static func hasExited(_ bytes: [UInt8]) -> Bool {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return false }
        let state = bytes[(close + 1)...].first { $0 != UInt8(ascii: " ") }
        return state == UInt8(ascii: "Z") || state == UInt8(ascii: "X")
    }

    /// Fields of /proc/<pid>/stat. The command is in parentheses and may itself contain
    /// spaces and parentheses, so the fields are counted from the last ")".
    static func parseStat(
        _ bytes: [UInt8]
    )
        -> (
            command: String, parentPID: Int32, cpuTicks: UInt64, startTicks: UInt64, threadCount: UInt64,
            residentPages: UInt64
        )?
    {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")), let close = bytes.lastIndex(of: UInt8(ascii: ")")),
            open < close
        else { return nil }
        let command = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        // After the command: state(0) ppid(1) ... utime(11) stime(12) ... num_threads(17) ...
        // starttime(19) vsize(20) rss(21), the resident pages (what statm's second field says).
        var numbers: [UInt64] = []
        numbers.reserveCapacity(22)
        var field = 0
        var value: UInt64 = 0
        var inField = false
        for byte in bytes[(close + 1)...] {
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") {
                if inField {
                    numbers.append(value)
                    field += 1
                    if field > 21 { break }
                }
                inField = false
                value = 0
            } else {
                inField = true
                if byte >= 0x30 && byte <= 0x39 { value = value &* 10 &+ UInt64(byte - 0x30) }
            }
        }
        if inField && field <= 21 { numbers.append(value) }
        guard numbers.count > 21, numbers[1] <= UInt64(Int32.max) else { return nil }
        return (command, Int32(numbers[1]), numbers[11] + numbers[12], numbers[19], numbers[17], numbers[21])
    }

}
