import Logging
import Spool
import SwiftProtobuf
import TestSupport
import Testing
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// Files and processes made to hurt the sampler (issue 25's acceptance): a FIFO and a link to
/// `/dev/zero` as `pid_file`, a linked directory with a foreign target on a `log_files` path, a
/// process with a 2 MB command line matched by a `cmdline` pattern. The built agent runs each for
/// a few seconds; it must stay up, tick within two poll intervals of each tick's time (the batch
/// times in its spool), keep its peak memory under its resident memory at start + 64 MiB, and
/// count what it refused or cut (`/health`'s `source_limited`). Root runs the tests; uid 65534
/// plays the tenant.
@Suite("Hostile files: pid_file, log_files directories, long command lines", .serialized)
struct HostileFileTests {
    static let tenantUID: uid_t = 65534
    static let pollIntervalSeconds = 0.5
    /// How long each agent is watched.
    static let watchFor = Duration.seconds(6)
    /// Past this the agent is stopped early (the old code's `/dev/zero` read would fill the host).
    static let memoryBoundKiB = 64 * 1024

    /// What the agent did while it was watched.
    struct Observation {
        var startedUnixMilliseconds: Int64
        var stoppedUnixMilliseconds: Int64
        var stillRunning: Bool
        var residentAtStartKiB: Int
        var peakResidentKiB: Int
        var batches: [ResourceWatcher_V1_Batch]
        var logLines: [String]
        var health: [String: Any]
        var agentLog: String

        /// The last batch's sample of `component`.
        func sample(_ component: String) -> ResourceWatcher_V1_ComponentSample? {
            batches.last?.components.first { $0.name == component }
        }

        /// `source_limited`'s count for (component, reason).
        func limited(_ component: String, _ reason: String) -> Int {
            let entries = health["source_limited"] as? [[String: Any]] ?? []
            let entry = entries.first { $0["component"] as? String == component && $0["reason"] as? String == reason }
            return entry?["count"] as? Int ?? 0
        }
    }

    /// Runs the agent with `components` (a JSON array's members) for `watchFor`, after `ready`
    /// holds (polled), then stops it and reads its spool.
    private func watch(
        components: String,
        in directory: TemporaryDirectory,
        ready: (() async throws -> Bool)? = nil
    ) async throws -> Observation {
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()
        let spool = directory.path + "/spool"
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": \(Self.pollIntervalSeconds), "port": \(port),
             "metrics_port": \(metricsPort), "spool": {"dir": "\(spool)"}, "discovery": {"enabled": false},
             "components": [\(components)]}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        var killed = false
        defer { if !killed { agent.kill() } }
        let started = Self.nowUnixMilliseconds()
        let residentAtStart = try #require(agent.residentKiB())
        if let ready { try await pollUntil("the test's setup is seen by the agent", ready) }
        let deadline = ContinuousClock.now + Self.watchFor
        var peak = residentAtStart
        while ContinuousClock.now < deadline {
            peak = max(peak, agent.peakResidentKiB() ?? peak)
            if peak - residentAtStart > Self.memoryBoundKiB * 2 { break }
            try await Task.sleep(for: .milliseconds(50))  // the next look, not a synchronisation
        }
        let health = (try? await AgentProcess.health(port: port)) ?? [:]
        let stillRunning = waitpid(agent.process.pid, nil, WNOHANG) == 0
        peak = max(peak, agent.peakResidentKiB() ?? peak)
        let stopped = Self.nowUnixMilliseconds()
        agent.kill()
        killed = true
        let reader = try Spool(directory: spool, consumers: ["check"], logger: .quiet("test")).reader(for: "check")
        let records = try reader.read(maxRecords: 10_000).records
        let batches = try records.filter { $0.kind == .sample }.map {
            try ResourceWatcher_V1_Batch(serializedBytes: $0.payload)
        }
        let logLines = try records.filter { $0.kind == .logs }.flatMap {
            try ResourceWatcher_V1_Batch(serializedBytes: $0.payload).logs.map(\.message)
        }
        return Observation(
            startedUnixMilliseconds: started,
            stoppedUnixMilliseconds: stopped,
            stillRunning: stillRunning,
            residentAtStartKiB: residentAtStart,
            peakResidentKiB: peak,
            batches: batches,
            logLines: logLines,
            health: health,
            agentLog: (try? String(contentsOfFile: directory.path + "/agent.log", encoding: .utf8)) ?? ""
        )
    }

    /// The agent stayed up, every tick came within two poll intervals of its time, and its peak
    /// memory stayed under its memory at start + 64 MiB.
    private func expectKeptTime(_ observation: Observation, sourceLocation: SourceLocation = #_sourceLocation) {
        let bound = Int64(2 * Self.pollIntervalSeconds * 1000)
        #expect(observation.stillRunning, "the agent exited", sourceLocation: sourceLocation)
        let times = observation.batches.map(\.timestampUnixMs)
        let expected = Int(
            Double(observation.stoppedUnixMilliseconds - observation.startedUnixMilliseconds) / 1000
                / Self.pollIntervalSeconds
        )
        #expect(
            times.count >= expected - 2,
            "\(times.count) ticks in \(observation.stoppedUnixMilliseconds - observation.startedUnixMilliseconds) ms",
            sourceLocation: sourceLocation
        )
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps.allSatisfy { $0 <= bound }, "gaps between ticks (ms): \(gaps)", sourceLocation: sourceLocation)
        #expect(
            (times.first ?? .max) <= observation.startedUnixMilliseconds + bound,
            "first tick at \(times.first.map { "\($0 - observation.startedUnixMilliseconds) ms" } ?? "never")",
            sourceLocation: sourceLocation
        )
        #expect(
            (times.last ?? 0) >= observation.stoppedUnixMilliseconds - bound,
            "last tick \(times.last.map { "\(observation.stoppedUnixMilliseconds - $0) ms" } ?? "never") before the end",
            sourceLocation: sourceLocation
        )
        let grown = observation.peakResidentKiB - observation.residentAtStartKiB
        #expect(grown < Self.memoryBoundKiB, "peak RSS grew by \(grown / 1024) MiB", sourceLocation: sourceLocation)
    }

    @Test(
        "a FIFO as pid_file never blocks a tick: the component reads down with the reason, and the refusal is counted"
    )
    func fifoPidFile() async throws {
        let directory = TemporaryDirectory(prefix: "rw-hostile-fifo")
        defer { directory.remove() }
        let fifo = directory.path + "/app.pid"
        try #require(mkfifo(fifo, 0o644) == 0)
        let observation = try await watch(components: #"{"name": "app", "pid_file": "\#(fifo)"}"#, in: directory)
        // A writer lets any open still waiting on the FIFO go (the old code's), so the agent can die.
        let writer = open(fifo, O_WRONLY | O_NONBLOCK)
        if writer >= 0 { close(writer) }
        expectKeptTime(observation)
        #expect(observation.sample("app")?.status == .down)
        #expect(observation.sample("app")?.statusReason.contains("FIFO") == true, "\(observation.batches.last as Any)")
        #expect(observation.limited("app", "pid_file_refused") >= 1, "\(observation.health["source_limited"] as Any)")
        #expect(observation.agentLog.components(separatedBy: "pid_file_refused").count - 1 == 1, "logged once")
    }

    @Test(
        "a pid_file linked to /dev/zero, or a tenant's link to another owner's pid file, is refused without reading it: memory stays bounded, ticks keep time, both counted"
    )
    func devZeroAndForeignLinkPidFiles() async throws {
        let directory = TemporaryDirectory(prefix: "rw-hostile-zero")
        defer { directory.remove() }
        let zeroLink = directory.path + "/zero.pid"
        try #require(symlink("/dev/zero", zeroLink) == 0)
        // Root's pid file names a running process; the tenant's link to it must not be believed.
        let sleeper = try ChildProcess("/bin/sleep", ["600"])
        defer {
            sleeper.kill()
            _ = sleeper.wait()
        }
        let rootPidFile = directory.path + "/root.pid"
        writeText("\(sleeper.pid)\n", to: rootPidFile)
        let tenantDirectory = directory.path + "/tenant"
        try #require(mkdir(tenantDirectory, 0o755) == 0 && chown(tenantDirectory, Self.tenantUID, Self.tenantUID) == 0)
        let foreignLink = tenantDirectory + "/worker.pid"
        try #require(symlink(rootPidFile, foreignLink) == 0 && lchown(foreignLink, Self.tenantUID, Self.tenantUID) == 0)
        // The same file read directly is believed (the control).
        let observation = try await watch(
            components: """
                {"name": "zero", "pid_file": "\(zeroLink)"},
                {"name": "foreign", "pid_file": "\(foreignLink)"},
                {"name": "direct", "pid_file": "\(rootPidFile)"}
                """,
            in: directory
        )
        expectKeptTime(observation)
        #expect(observation.sample("zero")?.status == .down)
        #expect(observation.sample("zero")?.statusReason.contains("character device") == true)
        #expect(observation.sample("foreign")?.status == .down, "the tenant's link was followed")
        #expect(observation.sample("foreign")?.statusReason.contains("symlink owned by uid 65534") == true)
        #expect(observation.sample("direct")?.status == .healthy)
        #expect(observation.limited("zero", "pid_file_refused") >= 1, "\(observation.health["source_limited"] as Any)")
        #expect(observation.limited("foreign", "pid_file_refused") >= 1)
        #expect(observation.limited("direct", "pid_file_refused") == 0)
    }

    @Test(
        "a log_files path through a tenant's link to another owner's directory is refused and counted; a link to its owner's directory is followed"
    )
    func linkedLogDirectory() async throws {
        let directory = TemporaryDirectory(prefix: "rw-hostile-logdir")
        defer { directory.remove() }
        // Root's log directory, the tenant's directory with a link to it, and root's own link
        // to another root directory (owners match: followed).
        let secretDirectory = directory.path + "/secret"
        let ownDirectory = directory.path + "/own"
        let tenantDirectory = directory.path + "/tenant"
        for path in [secretDirectory, ownDirectory, tenantDirectory] { try #require(mkdir(path, 0o755) == 0) }
        try #require(chown(tenantDirectory, Self.tenantUID, Self.tenantUID) == 0)
        writeText("", to: secretDirectory + "/app.log")
        writeText("", to: ownDirectory + "/app.log")
        let tenantLink = tenantDirectory + "/logs"
        try #require(
            symlink(secretDirectory, tenantLink) == 0 && lchown(tenantLink, Self.tenantUID, Self.tenantUID) == 0
        )
        let ownLink = directory.path + "/own-link"
        try #require(symlink(ownDirectory, ownLink) == 0)
        let spool = directory.path + "/spool"
        var appended = false
        let observation = try await watch(
            components: """
                {"name": "app", "process_name": "no-such-process",
                 "log_files": ["\(tenantLink)/app.log", "\(ownLink)/app.log"]}
                """,
            in: directory
        ) {
            // Lines written once the tailer has looked (a file already there is read from its end).
            var info = stat()
            guard lstat(spool + "/tail-positions.json", &info) == 0 else { return false }
            if !appended {
                Self.append("a root secret\n", to: secretDirectory + "/app.log")
                Self.append("an owner-matched line\n", to: ownDirectory + "/app.log")
                appended = true
            }
            return true
        }
        expectKeptTime(observation)
        #expect(observation.logLines.contains("an owner-matched line"), "\(observation.logLines)")
        #expect(!observation.logLines.contains("a root secret"), "the secret left through the linked directory")
        let sampler = observation.health["sampler"] as? [String: Any]
        #expect(sampler?["log_files_refused"] as? Int == 1, "\(sampler as Any)")
        #expect(observation.limited("app", "log_file_refused") >= 1, "\(observation.health["source_limited"] as Any)")
        let warnings = observation.agentLog.split(separator: "\n").filter { $0.contains("log file refused") }
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.contains("\(tenantLink) is a symlink owned by uid 65534 to a directory") == true)
    }

    @Test(
        "a process with a 2 MB command line: a cmdline pattern sees only its first 4 KiB, ticks keep time, the cut is counted once"
    )
    func longCommandLine() async throws {
        let directory = TemporaryDirectory(prefix: "rw-hostile-cmdline")
        defer { directory.remove() }
        let nonce = UInt32.random(in: 0...UInt32.max)
        let (head, tail) = ("HEAD-\(nonce)", "TAIL-\(nonce)")
        // Python raises its stack limit (the kernel's argument limit is a quarter of it) and
        // becomes a sleeping interpreter whose argv is the head marker, 2 MB, the tail marker.
        let script = """
            import os, resource, sys
            soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
            want = 256 << 20
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
            filler = ["x" * 100000] * 21
            program = [sys.executable, "-c", "import time; time.sleep(600)"]
            os.execv(sys.executable, program + [sys.argv[1]] + filler + [sys.argv[2]])
            """
        let child = try ChildProcess("/usr/bin/env", ["python3", "-c", script, head, tail])
        defer {
            child.kill()
            _ = child.wait()
        }
        // Started only once the process has its long command line (before that, its short one
        // holds both markers).
        try await pollUntil("the child's 2 MB command line", timeout: .seconds(20)) {
            guard let file = fopen("/proc/\(child.pid)/cmdline", "r") else { return false }
            defer { fclose(file) }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var total = 0
            while true {
                let count = fread(&buffer, 1, buffer.count, file)
                guard count > 0 else { break }
                total += count
            }
            return total > 2_000_000
        }
        let observation = try await watch(
            components: """
                {"name": "head", "cmdline": "\(head)"},
                {"name": "tail", "cmdline": "\(tail)"}
                """,
            in: directory
        )
        expectKeptTime(observation)
        #expect(observation.sample("head")?.status == .healthy, "the first 4 KiB are matched")
        #expect(observation.sample("tail")?.status == .down, "a pattern saw past the first 4 KiB")
        // Counted when a process is first matched (the answers are kept per process); other
        // long command lines on the host (a compiler's) may add to it.
        #expect(observation.limited("head", "cmdline_truncated") >= 1, "\(observation.health["source_limited"] as Any)")
        #expect(observation.limited("tail", "cmdline_truncated") >= 1)
    }

    private static func append(_ text: String, to path: String) {
        guard let file = fopen(path, "a") else { return }
        fputs(text, file)
        fclose(file)
    }

    private static func nowUnixMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
