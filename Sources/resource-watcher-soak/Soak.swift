import Foundation  // JSONSerialization: the stand-ins' and Prometheus' answers
import HTTPTransport
import TestSupport
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// One soak run. The agent (the release build beside this program) watches `steady` (always up,
/// its log file tailed) and `flapper` (up and down in turns: `component_down` episodes), ships to
/// a real Prometheus and to the Loki and orchestrator stand-ins, and takes usage events. Its
/// spool is on a small tmpfs of its own. Meanwhile: fault bursts on Loki and the orchestrator
/// (5xx, 429 with Retry-After, dropped connections, stalls past the request timeout), one outage
/// of each sink, the spool's disk full for a while (a ballast file fills the tmpfs), and a
/// `kill -9` of the agent every `killEvery` seconds, while an alert is active where it can be.
/// A watch reads every record the spool acknowledged as it appears. Then every sink drains and
/// `account()` counts what arrived, record by record.
final class Soak: @unchecked Sendable {
    let minutes: Double
    let killEvery: (Double, Double)
    let outageSeconds: Double
    let pollIntervalMilliseconds: Int64 = 500
    let directory = TemporaryDirectory(prefix: "rw-soak")
    let prometheus: PrometheusServer
    let loki: FixtureServer
    let orchestrator: FixtureServer
    let port: Int
    let configPath: String
    let logPath: String
    /// The tmpfs holding the spool (and the ballast that fills it).
    let filesystemPath: String
    let spoolPath: String
    let watch: SpoolWatch
    /// Seconds the spool's disk stays full.
    let fullSeconds: Double
    let http = CurlTransport(
        userAgent: "resource-watcher-soak",
        connectTimeout: .seconds(1),
        requestTimeout: .seconds(5)
    )

    var agent: AgentProcess?
    private let steady: ChildProcess
    private var flapper: ChildProcess?
    /// The agent's up windows, Unix ms: from its first tick to its kill (nil: still up).
    var upWindows: [(from: Int64, to: Int64?)] = []
    var downPeriods = 0
    var kills = 0
    var killsWhileAlertActive = 0
    var linesWritten = 0
    var usagePosted = 0
    var usageAccepted = 0
    var probes = 0
    var probesAnswered = 0
    var faultBursts = 0
    var stalls = 0
    /// The agent's counters of the runs that ended with `kill -9`, read just before each kill.
    var countersOfEndedRuns = AgentCounters()
    /// Runs whose counters could not be read before the kill (the agent did not answer).
    var runsWithoutCounters = 0
    /// When the spool's disk was full (Unix ms), the lines written around it, and the appends
    /// the agent refused meanwhile (its counter before and after).
    var fullWindow: (from: Int64, to: Int64)?
    var linesAroundFull: ClosedRange<Int>?
    var appendsRefusedWhileFull: Int?
    var ballastBytes = 0

    init(minutes: Double, killEvery: (Double, Double), outageSeconds: Double, fullSeconds: Double) async throws {
        self.minutes = minutes
        self.killEvery = killEvery
        self.outageSeconds = outageSeconds
        self.fullSeconds = fullSeconds
        filesystemPath = directory.path + "/fs"
        spoolPath = filesystemPath + "/spool"
        watch = SpoolWatch(directory: spoolPath)
        try Self.mountTmpfs(at: filesystemPath, megabytes: 64)
        prometheus = try await PrometheusServer(directory: directory.path)
        loki = try FixtureServer("loki_server.py")
        orchestrator = try FixtureServer("orchestrator_server.py", ["--reports-path", ""])
        port = try ProcessHelpers.freeLoopbackPort()
        steady = try ChildProcess("/bin/sleep", ["36000"])
        configPath = directory.path + "/config.json"
        logPath = directory.path + "/app.log"
        writeText("\(steady.pid)\n", to: directory.path + "/steady.pid")
        writeText("", to: logPath)
        try flapUp()
        writeText(
            """
            {"client_id": "soak", "poll_interval_seconds": \(Double(pollIntervalMilliseconds) / 1000),
             "port": \(port), "metrics_port": \(try ProcessHelpers.freeLoopbackPort()),
             "orchestrator_url": "\(orchestrator.baseURL)",
             "spool": {"dir": "\(spoolPath)"},
             "sinks": {"prometheus_remote_write": {"url": "\(prometheus.writeURL)"},
                       "loki": {"url": "\(loki.baseURL)"}},
             "retry": {"min_backoff_ms": 100, "max_backoff_ms": 2000, "request_timeout_seconds": 5},
             "alerts": {"for_samples": 2},
             "components": [
               {"name": "steady", "pid_file": "\(directory.path)/steady.pid", "log_files": ["\(logPath)"]},
               {"name": "flapper", "pid_file": "\(directory.path)/flapper.pid"}]}
            """,
            to: configPath
        )
    }

    /// A tmpfs of its own for the spool: filling it gives a real ENOSPC without touching the
    /// machine's disks. Needs root (as `make test`'s cgroup and Docker tests do).
    private static func mountTmpfs(at path: String, megabytes: Int) throws {
        mkdir(path, 0o700)
        let mount = try ChildProcess(
            "/bin/mount",
            ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "tmpfs", path]
        )
        guard mount.wait() == 0 else {
            throw ChildProcess.Failure(
                description:
                    "cannot mount a tmpfs at \(path) for the spool (the soak fills it to test a full disk): run it as root"
            )
        }
    }

    private func flapUp() throws {
        let process = try ChildProcess("/bin/sleep", ["36000"])
        writeText("\(process.pid)\n", to: directory.path + "/flapper.pid")
        flapper = process
    }

    private func flapDown() {
        flapper?.kill()
        _ = flapper?.wait()
        flapper = nil
        downPeriods += 1
    }

    private func say(_ text: String) {
        let line = "soak \(RFC3339.format(unixMilliseconds: RFC3339.nowUnixMilliseconds())): \(text)\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    /// Starts the agent and waits for its first tick (the start of an up window).
    private func startAgent() async throws {
        agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        try await pollUntil("the agent's first tick", timeout: .seconds(60)) { await self.ticks() >= 1 }
        upWindows.append((RFC3339.nowUnixMilliseconds(), nil))
    }

    /// `/health` within 2 s: what a probe counts as answered.
    private func health() async throws -> [String: Any] {
        let reply = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)/health", timeout: .seconds(2)))
        return try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any] ?? [:]
    }

    private func ticks() async -> Int { await AgentProcess.ticks(port: port) }

    /// `POST /control/faults` on a stand-in.
    private func faults(_ server: FixtureServer, _ json: String) async throws {
        let reply = try await http.send(
            HTTPRequest(
                method: .post,
                url: server.baseURL + "/control/faults",
                headers: [("Content-Type", "application/json")],
                body: Array(json.utf8)
            )
        )
        guard reply.status == 204 else {
            throw ChildProcess.Failure(
                description: "faults: HTTP \(reply.status) \(String(decoding: reply.body, as: UTF8.self))"
            )
        }
    }

    private func appendLine() {
        linesWritten += 1
        let descriptor = open(logPath, O_WRONLY | O_APPEND)
        guard descriptor >= 0 else { return }
        let bytes = Array("soak line \(linesWritten)\n".utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    private func postUsage() async {
        usagePosted += 1
        let body =
            #"{"model": "soak-model", "provider": "soak", "tokens_input": 10, "tokens_output": 20, "latency_ms": 50}"#
        let reply = try? await http.send(
            HTTPRequest(
                method: .post,
                url: "http://127.0.0.1:\(port)/v1/usage",
                headers: [("Content-Type", "application/json")],
                body: Array(body.utf8),
                timeout: .seconds(2)
            )
        )
        if reply?.status == 202 { usageAccepted += 1 }
    }

    private func probe() async {
        probes += 1
        if (try? await health())?["status"] != nil { probesAnswered += 1 }
    }

    /// Three faults for the next three requests, one of them always a stall past the agent's
    /// request timeout (5 s): the agent gives up on it and sends the request again.
    private func randomFaultScript() -> String {
        let faults = [
            #"{"status": 500}"#, #"{"status": 503}"#, #"{"status": 429, "retry_after": "1"}"#,
            #"{"status": 500, "drop": true}"#,
            #"{"status": 502, "delay_ms": 300}"#,
        ]
        stalls += 1
        let script = [#"{"status": 503, "delay_ms": 7000}"#] + (0..<2).map { _ in faults.randomElement()! }
        return #"{"script": [\#(script.shuffled().joined(separator: ","))], "then": null}"#
    }

    /// The agent's counters now (`/health`).
    func counters() async throws -> AgentCounters { AgentCounters(health: try await health()) }

    /// Fills the spool's tmpfs with a ballast file until the kernel refuses (ENOSPC).
    private func fillDisk() {
        let path = filesystemPath + "/ballast"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        for size in [1 << 20, 4096, 512, 1] {
            let block = [UInt8](repeating: 0xA5, count: size)
            while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, size) }) == size { ballastBytes += size }
        }
    }

    private func emptyDisk() { unlink(filesystemPath + "/ballast") }

    private enum Sink: String {
        case prometheus, loki, orchestrator
    }

    /// One sink's outage and where it stands.
    private struct Outage {
        enum Phase { case pending, running, over }
        let sink: Sink
        let start: ContinuousClock.Instant
        let end: ContinuousClock.Instant
        var phase = Phase.pending
    }

    private func beginOutage(of sink: Sink) async throws {
        say("\(sink.rawValue) outage begins")
        switch sink {
        case .prometheus: prometheus.stop()
        case .loki: try await faults(loki, #"{"script": [], "then": {"status": 503}}"#)
        case .orchestrator: try await faults(orchestrator, #"{"script": [], "then": {"status": 503}}"#)
        }
    }

    private func endOutage(of sink: Sink) async throws {
        say("\(sink.rawValue) outage ends")
        switch sink {
        case .prometheus: try await prometheus.start()
        case .loki: try await faults(loki, #"{"script": [], "then": null}"#)
        case .orchestrator: try await faults(orchestrator, #"{"script": [], "then": null}"#)
        }
    }

    func run() async throws -> Bool {
        defer { cleanUp() }
        let start = ContinuousClock.now
        let end = start + .seconds(minutes * 60)
        func at(_ fraction: Double) -> ContinuousClock.Instant { start + .seconds(minutes * 60 * fraction) }
        say(
            "\(minutes) min; kill -9 every \(Int(killEvery.0))-\(Int(killEvery.1)) s; outages of \(Int(outageSeconds)) s; work directory \(directory.path)"
        )
        try await startAgent()

        var nextKill = ContinuousClock.now + .seconds(Double.random(in: killEvery.0...killEvery.1))
        var nextFlap = ContinuousClock.now + .seconds(Double.random(in: 8...15))
        var nextBurst = ContinuousClock.now + .seconds(30)
        var nextSecond = ContinuousClock.now
        // Each sink's outage in turn: Prometheus is stopped; the stand-ins answer 503.
        var outages = [
            Outage(sink: .loki, start: at(0.2), end: at(0.2) + .seconds(outageSeconds)),
            Outage(sink: .orchestrator, start: at(0.45), end: at(0.45) + .seconds(outageSeconds)),
            Outage(sink: .prometheus, start: at(0.7), end: at(0.7) + .seconds(outageSeconds)),
        ]
        var flapperDownSince: ContinuousClock.Instant?
        // The spool's disk full once, away from the outages; no kill or flap around it, so the
        // agent's refused-append counter covers it in one run and no alert episode falls in it.
        let fullStart = at(0.58)
        let fullEnd = fullStart + .seconds(fullSeconds)
        var fullPhase = Outage.Phase.pending
        var refusedBeforeFull = 0

        while ContinuousClock.now < end {
            appendLine()
            let now = ContinuousClock.now
            if now >= nextSecond {
                nextSecond = now + .seconds(1)
                await postUsage()
                await probe()
                watch.scan()
            }
            let quiet = now >= fullStart - .seconds(5) && now <= fullEnd + .seconds(5)
            if fullPhase == .pending, now >= fullStart {
                refusedBeforeFull = try await counters().droppedAppends
                fillDisk()
                fullWindow = (RFC3339.nowUnixMilliseconds(), 0)
                linesAroundFull = linesWritten...linesWritten
                fullPhase = .running
                say("spool disk full (\(ballastBytes / 1024) KiB of ballast)")
            } else if fullPhase == .running, now >= fullEnd {
                emptyDisk()
                fullWindow?.to = RFC3339.nowUnixMilliseconds()
                fullPhase = .over
                say("spool disk has room again")
                // Recovered: a new record appended; then the refusals counted meanwhile.
                var first: Int?
                try await pollUntil("an append after the disk had room", timeout: .seconds(30)) {
                    let last = ((try? await self.health())?["spool"] as? [String: Any])?["last_sequence"] as? Int
                    guard let seen = first else {
                        first = last
                        return false
                    }
                    return (last ?? 0) > seen
                }
                appendsRefusedWhileFull = try await counters().droppedAppends - refusedBeforeFull
                linesAroundFull = linesAroundFull!.lowerBound...linesWritten
            }
            if now >= nextFlap, !quiet {
                if flapper == nil {
                    try flapUp()
                    flapperDownSince = nil
                    nextFlap = now + .seconds(Double.random(in: 8...15))
                } else {
                    flapDown()
                    flapperDownSince = now
                    nextFlap = now + .seconds(Double.random(in: 6...10))
                }
            }
            // kill -9, while component_down is active when it can be (down for 3 s: fired).
            let alertActive = flapperDownSince.map { now - $0 > .seconds(3) } ?? false
            if now >= nextKill, !quiet, alertActive || now >= nextKill + .seconds(20) {
                if let counters = try? await counters() {
                    countersOfEndedRuns.add(counters)
                } else {
                    runsWithoutCounters += 1
                }
                agent?.kill(SIGKILL)
                upWindows[upWindows.count - 1].to = RFC3339.nowUnixMilliseconds()
                kills += 1
                if alertActive { killsWhileAlertActive += 1 }
                say("kill -9 #\(kills)\(alertActive ? " (component_down active)" : "")")
                try await startAgent()
                nextKill = ContinuousClock.now + .seconds(Double.random(in: killEvery.0...killEvery.1))
            }
            for index in outages.indices {
                if outages[index].phase == .pending, now >= outages[index].start {
                    try await beginOutage(of: outages[index].sink)
                    outages[index].phase = .running
                } else if outages[index].phase == .running, now >= outages[index].end {
                    try await endOutage(of: outages[index].sink)
                    outages[index].phase = .over
                }
            }
            let inOutage = outages.contains { $0.phase == .running && $0.sink != .prometheus }
            if now >= nextBurst, !inOutage {
                nextBurst = now + .seconds(30)
                faultBursts += 1
                try await faults(Bool.random() ? loki : orchestrator, randomFaultScript())
            }
            try await Task.sleep(for: .milliseconds(200))  // the pace of the log writer
        }

        // The end: the flapper up (its last episode resolves), every outage over, every sink drained.
        if fullPhase == .running { emptyDisk() }
        if flapper == nil { try flapUp() }
        for outage in outages where outage.phase == .running { try await endOutage(of: outage.sink) }
        try await faults(loki, #"{"script": [], "then": null}"#)
        try await faults(orchestrator, #"{"script": [], "then": null}"#)
        say("draining")
        // Two more ticks: the last lines written are tailed into the spool (the drain below
        // only sees what is in the spool).
        let ticksAtEnd = await ticks()
        try await pollUntil("two more ticks", timeout: .seconds(30)) { await self.ticks() >= ticksAtEnd + 2 }
        try await pollUntil("the agent to see the flapper up", timeout: .seconds(60)) {
            ((try? await self.health())?["components"] as? [String: Any])?["down"] as? Int == 0
        }
        var lag: [String: Int] = [:]
        try await pollUntil("every sink drained", timeout: .seconds(180), context: "lag \(lag)") {
            let sinks = (try? await self.health())?["sinks"] as? [[String: Any]] ?? []
            lag = Dictionary(sinks.map { ($0["name"] as? String ?? "?", $0["lag_records"] as? Int ?? -1) }) { a, _ in a
            }
            return !sinks.isEmpty && lag.values.allSatisfy { $0 == 0 }
        }
        upWindows[upWindows.count - 1].to = RFC3339.nowUnixMilliseconds()
        watch.scan()
        return try await account()
    }

    private func cleanUp() {
        agent?.kill(SIGKILL)
        flapper?.kill()
        _ = flapper?.wait()
        steady.kill()
        _ = steady.wait()
        prometheus.kill()
        loki.stop()
        orchestrator.stop()
        if let unmount = try? ChildProcess("/bin/umount", [filesystemPath]) { _ = unmount.wait() }
        if ProcessInfo.processInfo.environment["SOAK_KEEP"] == nil { directory.remove() }
    }
}
