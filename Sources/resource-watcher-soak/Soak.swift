import Foundation  // JSONSerialization: the stand-ins' and Prometheus' answers
import HTTPTransport
import TestSupport
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// One soak run. The agent (the release build beside this program) watches `steady` (always up,
/// its log file tailed) and `flapper` (up and down in turns: `component_down` episodes), ships to
/// a real Prometheus and to the Loki and orchestrator stand-ins, and takes usage events. Meanwhile:
/// fault bursts on Loki and the orchestrator (5xx, 429 with Retry-After, dropped connections),
/// one outage of each sink, and a `kill -9` of the agent every `killEvery` seconds, while an
/// alert is active where it can be. Then every sink drains and `account()` counts what arrived.
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

    init(minutes: Double, killEvery: (Double, Double), outageSeconds: Double) async throws {
        self.minutes = minutes
        self.killEvery = killEvery
        self.outageSeconds = outageSeconds
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
             "spool": {"dir": "\(directory.path)/spool"},
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

    private func randomFaultScript() -> String {
        let faults = [
            #"{"status": 500}"#, #"{"status": 503}"#, #"{"status": 429, "retry_after": "1"}"#,
            #"{"status": 500, "drop": true}"#,
            #"{"status": 502, "delay_ms": 300}"#,
        ]
        return #"{"script": [\#((0..<3).map { _ in faults.randomElement()! }.joined(separator: ","))], "then": null}"#
    }

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

        while ContinuousClock.now < end {
            appendLine()
            let now = ContinuousClock.now
            if now >= nextSecond {
                nextSecond = now + .seconds(1)
                await postUsage()
                await probe()
            }
            if now >= nextFlap {
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
            if now >= nextKill, alertActive || now >= nextKill + .seconds(20) {
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
        if ProcessInfo.processInfo.environment["SOAK_KEEP"] == nil { directory.remove() }
    }
}
