import Foundation  // String(contentsOfFile:), the agent log for a failure
import HTTPTransport
import TestSupport
import Testing
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// The agent against a real Prometheus (Debian's package) that goes away for 30 s while the
/// agent samples every 0.5 s: nothing sampled during the outage may be lost, even when the agent
/// itself is killed with SIGKILL in the middle of it (DESIGN §7, the spool keeps the backlog).
@Suite("Shipping across a Prometheus outage", .serialized)
struct OutageTests {
    private let agent = BuiltProducts.path(of: "resource-watcher")
    private let outage = Duration.seconds(30)
    private let pollIntervalMilliseconds: Int64 = 500
    private let metrics = [
        "resource_watcher_component_cpu_usage", "resource_watcher_component_memory_usage",
        "resource_watcher_component_memory_usage_percent", "resource_watcher_component_disk_usage",
        "resource_watcher_component_network_in", "resource_watcher_component_network_out",
    ]

    /// A scenario's moving parts: Prometheus, a watched worker process, the agent's config.
    private struct Setup {
        let directory: TemporaryDirectory
        let prometheus: PrometheusServer
        let worker: ChildProcess
        let configPath: String
        let port: Int

        func cleanUp() {
            prometheus.kill()
            worker.kill()
            _ = worker.wait()
            directory.remove()
        }
    }

    private func setUp() async throws -> Setup {
        let directory = TemporaryDirectory()
        let prometheus = try await PrometheusServer(directory: directory.path)
        let worker = try ChildProcess("/bin/sleep", ["3600"])
        writeText("\(worker.pid)\n", to: directory.path + "/worker.pid")
        let configPath = directory.path + "/config.json"
        let port = try ProcessHelpers.freeLoopbackPort()
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 0.5, "log_level": "info",
             "port": \(port), "metrics_port": \(try ProcessHelpers.freeLoopbackPort()),
             "spool": {"dir": "\(directory.path)/spool"},
             "sinks": {"prometheus_remote_write": {"url": "\(prometheus.writeURL)"}},
             "retry": {"min_backoff_ms": 100, "max_backoff_ms": 1000, "request_timeout_seconds": 5},
             "components": [{"name": "worker", "pid_file": "\(directory.path)/worker.pid"},
                            {"name": "agent", "process_name": "resource-watcher"}]}
            """,
            to: configPath
        )
        return Setup(
            directory: directory,
            prometheus: prometheus,
            worker: worker,
            configPath: configPath,
            port: port
        )
    }

    private func startAgent(_ setup: Setup) throws -> ChildProcess {
        // Output to a file: a pipe nobody reads would fill and block the agent's logging.
        try ChildProcess(
            "/bin/sh",
            ["-c", "exec '\(agent)' run --config '\(setup.configPath)' >>'\(setup.directory.path)/agent.log' 2>&1"]
        )
    }

    /// When a (re)started agent has taken its first sample: the moment its `/health` first counts
    /// a tick. Samples are only owed from then on; how long the start took is not loss.
    private func firstTick(_ setup: Setup) async throws -> Int64 {
        try await pollUntil("the restarted agent's first tick", timeout: .seconds(60), context: agentLog(setup)) {
            await AgentProcess.ticks(port: setup.port) >= 1
        }
        return RFC3339.nowUnixMilliseconds()
    }

    /// The end of the agent's log, to name what it was doing when an expectation failed.
    private func agentLog(_ setup: Setup) -> String {
        let text = (try? String(contentsOfFile: setup.directory.path + "/agent.log", encoding: .utf8)) ?? ""
        return "agent.log ends: " + text.split(separator: "\n").suffix(30).joined(separator: "\n")
    }

    /// Polls (with a deadline) until every series of both components has a sample at or after `time`.
    private func waitUntilDelivered(through time: Int64, _ prometheus: PrometheusServer) async throws {
        let deadline = ContinuousClock.now + .seconds(90)
        while ContinuousClock.now < deadline {
            let series = try await prometheus.rawSampleTimes("{__name__=~\"resource_watcher_component_.*\"}[10m]")
            if series.count == metrics.count * 2, series.values.allSatisfy({ ($0.max() ?? 0) >= time }) { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("Prometheus did not receive samples through \(time) within 90 s")
    }

    /// Every series has raw samples across [from, to] at the poll interval: at least 90% of the
    /// ticks, and no gap longer than three intervals (a tick may slip under load, none may vanish).
    private func expectCoverage(from: Int64, to: Int64, _ setup: Setup, _ what: String) async throws {
        let series = try await setup.prometheus.rawSampleTimes("{__name__=~\"resource_watcher_component_.*\"}[10m]")
        var held = series.count == metrics.count * 2
        #expect(held, "series: \(series.keys.sorted())")
        let expectedTicks = (to - from) / pollIntervalMilliseconds
        for (name, times) in series.sorted(by: { $0.key < $1.key }) {
            let inside = times.filter { $0 >= from && $0 <= to }.sorted()
            let enough = Int64(inside.count) * 10 >= expectedTicks * 9
            #expect(
                enough,
                "\(what): \(name) has \(inside.count) samples in \(to - from) ms, expected about \(expectedTicks)"
            )
            let edges = [from] + inside + [to]
            let largestGap = zip(edges, edges.dropFirst()).map { $1 - $0 }.max() ?? 0
            let noGap = largestGap <= 3 * pollIntervalMilliseconds
            #expect(noGap, "\(what): \(name) has a \(largestGap) ms gap")
            held = held && enough && noGap
        }
        // The same through PromQL's own counting of raw samples over the window.
        let window = (to - from) / 1000
        let counted = try await setup.prometheus.query(
            "count_over_time(resource_watcher_component_cpu_usage{component=\"worker\"}[\(window)s])",
            at: Double(to) / 1000
        )
        let count = ((counted.first?["value"] as? [Any])?.last as? String).flatMap(Int64.init) ?? 0
        let countEnough = count * 10 >= expectedTicks * 9
        #expect(countEnough, "\(what): count_over_time gave \(count), expected about \(expectedTicks)")
        if !(held && countEnough) { Issue.record("\(what): \(agentLog(setup))") }
    }

    @Test("samples taken while Prometheus is down for 30 s all arrive once it is back")
    func outageLosesNothing() async throws {
        let setup = try await setUp()
        defer { setup.cleanUp() }
        let agent = try startAgent(setup)
        defer {
            agent.kill(SIGKILL)
            _ = agent.wait()
        }
        try await waitUntilDelivered(through: RFC3339.nowUnixMilliseconds(), setup.prometheus)

        setup.prometheus.stop()
        let outageStart = RFC3339.nowUnixMilliseconds()
        try await Task.sleep(for: outage)  // the scenario: Prometheus stays down this long
        try await setup.prometheus.start()
        let outageEnd = RFC3339.nowUnixMilliseconds()

        try await waitUntilDelivered(through: outageEnd, setup.prometheus)
        try await expectCoverage(from: outageStart, to: outageEnd, setup, "outage")
        agent.kill(SIGTERM)
        #expect(agent.wait() == 0)
    }

    @Test("a backlog spooled before the agent is killed with SIGKILL during the outage is delivered after its restart")
    func killDuringOutageLosesNothing() async throws {
        let setup = try await setUp()
        defer { setup.cleanUp() }
        var agent = try startAgent(setup)
        try await waitUntilDelivered(through: RFC3339.nowUnixMilliseconds(), setup.prometheus)

        setup.prometheus.stop()
        let outageStart = RFC3339.nowUnixMilliseconds()
        try await Task.sleep(for: outage / 2)
        agent.kill(SIGKILL)
        _ = agent.wait()
        let killedAt = RFC3339.nowUnixMilliseconds()
        agent = try startAgent(setup)
        defer {
            agent.kill(SIGKILL)
            _ = agent.wait()
        }
        let firstTickAfterRestart = try await firstTick(setup)
        try await Task.sleep(for: outage / 2)
        try await setup.prometheus.start()
        let outageEnd = RFC3339.nowUnixMilliseconds()

        try await waitUntilDelivered(through: outageEnd, setup.prometheus)
        // The first agent's backlog (it sampled until it was killed) and the second's.
        try await expectCoverage(from: outageStart, to: killedAt - 1000, setup, "before the kill")
        try await expectCoverage(from: firstTickAfterRestart, to: outageEnd, setup, "after the restart")
    }
}
