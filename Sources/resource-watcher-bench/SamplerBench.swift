import Sampler
import TestSupport
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// Sampling cost per process-component per tick, for 10, 100 and 1000 components, next to
/// Python reading the same three /proc files per process in the same run.
struct SamplerBench {
    let workDirectory: String
    /// This bench's figures on this machine before the sampler kept /proc files open between
    /// ticks and parsed them as bytes (commit 361cb1b), per component count.
    static let before = [10: "36.9–47.4", 100: "39.4–42.3", 1000: "43.5–43.7"]

    func run() throws {
        print("== sampler: CPU time per process-component per tick (each component one `sleep` process)")
        for count in [10, 100, 1000] { try measure(components: count) }
    }

    private func measure(components count: Int) throws {
        let directory = workDirectory + "/sampler-\(count)"
        mkdir(directory, 0o755)
        // Distinct executable names (symlinks to sleep) so components are found by process_name.
        var pids: [pid_t] = []
        defer {
            for pid in pids { kill(pid, SIGKILL) }
            for pid in pids {
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
        var components: [ComponentConfig] = []
        for index in 0..<count {
            let name = "rwb-sleep-\(index)"
            let path = directory + "/" + name
            unlink(path)
            symlink("/bin/sleep", path)
            let arguments: [String] = [path, "3600"]
            let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            defer { for argument in argv { free(argument) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, path, nil, nil, argv, environ) == 0 else {
                throw BenchFailure("cannot spawn \(path)")
            }
            pids.append(pid)
            components.append(ComponentConfig(name: name, processName: name))
        }
        let sampler = ProcessComponentSampler(components: components)
        var samples = sampler.sample()
        let deadline = ContinuousClock.now + .seconds(30)
        while samples.contains(where: { $0.status != .healthy }) && ContinuousClock.now < deadline {
            samples = sampler.sample()
        }
        guard !samples.contains(where: { $0.status != .healthy }) else {
            throw BenchFailure("not every process was found")
        }

        // Steady state: ticks between host scans (the sampler scans the host every 10 s, and on
        // any tick where a component is missing). A scan tick is measured on fresh samplers.
        let ticks = count >= 1000 ? 10 : 50
        let hostProcesses = Double(countProcesses())
        let before = ProcessHelpers.cpuSeconds()
        for _ in 0..<ticks { _ = sampler.sample() }
        let tickSeconds = (ProcessHelpers.cpuSeconds() - before) / Double(ticks)
        let ours = tickSeconds / Double(count) * 1e6
        let scans = count >= 1000 ? 3 : 10
        let scanBefore = ProcessHelpers.cpuSeconds()
        for _ in 0..<scans { _ = ProcessComponentSampler(components: components).sample() }
        let scanSeconds = (ProcessHelpers.cpuSeconds() - scanBefore) / Double(scans)

        // Floor: one pread of each process's /proc/<pid>/stat, kept open, and nothing else.
        let descriptors = pids.map { open("/proc/\($0)/stat", O_RDONLY | O_CLOEXEC) }
        defer { for descriptor in descriptors where descriptor >= 0 { close(descriptor) } }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let floorBefore = ProcessHelpers.cpuSeconds()
        for _ in 0..<(ticks * 4) {
            for descriptor in descriptors {
                _ = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
            }
        }
        let floor = (ProcessHelpers.cpuSeconds() - floorBefore) / Double(ticks * 4 * count) * 1e6

        // Baseline: Python reading /proc/<pid>/{stat,statm,cmdline} for the same processes.
        let pidList = directory + "/pids"
        let text = pids.map(String.init).joined(separator: "\n")
        let descriptor = open(pidList, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = Array(text.utf8).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        let script = """
            import time
            pids = open('\(pidList)').read().split()
            start = time.process_time()
            for _ in range(\(ticks)):
                for pid in pids:
                    for name in ('stat', 'statm', 'cmdline'):
                        with open('/proc/' + pid + '/' + name, 'rb') as f: f.read()
            print((time.process_time() - start) / (\(ticks) * len(pids)) * 1e6)
            """
        let python = try captureOutput("/usr/bin/env", ["python3", "-c", script])
        guard let baseline = Double(python.trimmingCharacters) else {
            throw BenchFailure("python baseline failed: \(python)")
        }
        print(
            "   \(count) components: \(format(ours, digits: 1)) µs CPU per component per tick"
                + " between host scans; a first tick with a host scan (\(Int(hostProcesses)) processes): \(format(scanSeconds * 1000, digits: 1)) ms"
                + "  | baseline python reading 3 /proc files per process: \(format(baseline, digits: 1)) µs"
                + "  | ratio \(format(ours / baseline, digits: 2))x (target <= 50 µs per component)"
                + "  | floor, one pread of an open /proc/<pid>/stat: \(format(floor, digits: 1)) µs"
                + "  | before keeping files open and parsing bytes (2026-12-01): \(Self.before[count] ?? "-") µs"
        )
    }

    private func countProcesses() -> Int {
        guard let directory = opendir("/proc") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
            if first >= 0x30 && first <= 0x39 { count += 1 }
        }
        return count
    }

}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program and returns what it wrote to standard output.
func captureOutput(_ program: String, _ arguments: [String]) throws -> String {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { throw BenchFailure("pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
    posix_spawn_file_actions_addclose(&actions, ends[0])
    let words = [program] + arguments
    let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
    defer { for argument in argv { free(argument) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
    close(ends[1])
    defer { close(ends[0]) }
    guard spawned == 0 else { throw BenchFailure("cannot run \(program)") }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
        if count <= 0 { break }
        output += buffer[0..<count]
    }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return String(decoding: output, as: UTF8.self)
}

extension String {
    var trimmingCharacters: String { String(filter { !$0.isWhitespace }) }
}
