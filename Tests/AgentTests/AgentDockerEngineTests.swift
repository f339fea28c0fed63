import HTTPTransport
import Logging
import Spool
import SwiftProtobuf
import TestSupport
import Testing
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// The agent (the built binary) against a real Docker engine (`DockerTestEngine`).
@Suite("Agent with a real Docker engine", .serialized)
struct AgentDockerEngineTests {
    private let agent = BuiltProducts.path(of: "resource-watcher")
    private let http = CurlTransport(userAgent: "outage-test", connectTimeout: .seconds(1), requestTimeout: .seconds(2))

    private func get(_ port: Int, _ path: String) async -> String? {
        guard let response = try? await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)\(path)")),
            response.status == 200
        else { return nil }
        return String(decoding: response.body, as: UTF8.self)
    }

    /// Polls `path` every 50 ms until `condition` holds for its body; the last body either way.
    private func poll(
        _ port: Int,
        _ path: String,
        for limit: Duration,
        until condition: (String) -> Bool
    ) async throws
        -> (body: String, met: Bool)
    {
        let deadline = ContinuousClock.now + limit
        var last = ""
        while ContinuousClock.now < deadline {
            if let body = await get(port, path) {
                last = body
                if condition(body) { return (body, true) }
            }
            try await Task.sleep(for: .milliseconds(50))  // the next poll
        }
        return (last, false)
    }

    /// A config watching one container on `engine`, spooling to `directory`/spool, on random
    /// ports; its path and the API port.
    private func writeConfig(
        in directory: TemporaryDirectory,
        engine: DockerTestEngine,
        pollIntervalSeconds: Double,
        component: String,
        container: String
    ) -> (path: String, port: Int) {
        let port = Int.random(in: 20_000...40_000)
        let path = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "tenant-a", "poll_interval_seconds": \(pollIntervalSeconds), "port": \(port),
             "metrics_port": \(Int.random(in: 40_001...60_000)), "docker_socket": "\(engine.socket)",
             "spool": {"dir": "\(directory.path)/spool"},
             "components": [{"name": "\(component)", "container_name": "\(container)"}]}
            """,
            to: path
        )
        return (path, port)
    }

    private func ticks(in health: String) -> Int {
        guard let range = health.range(of: "\"ticks\":") else { return 0 }
        return Int(String(health[range.upperBound...].prefix(while: \.isNumber))) ?? 0
    }

    @Test(
        "engine stopped (and its containers with it): the component is not healthy, /health degraded within two ticks naming the engine, status says Docker first; engine back: figures resume"
    )
    func engineStopsAndReturns() async throws {
        let engine = try DockerTestEngine.shared()
        let container = "rw\(UInt32.random(in: 0...UInt32.max))-model"
        try engine.docker(
            "run",
            "-d",
            "--name",
            container,
            "--network",
            "none",
            "--restart",
            "always",
            DockerTestEngine.image,
            "sleep",
            "100000"
        )
        defer { _ = try? engine.docker("rm", "-f", container) }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (configPath, port) = writeConfig(
            in: directory,
            engine: engine,
            pollIntervalSeconds: 0.5,
            component: "model",
            container: container
        )
        let process = try ChildProcess(agent, ["run", "--config", configPath], mergeStandardError: true)
        var engineRunning = true
        defer { if !engineRunning { try? engine.startEngine() } }

        let healthy = try await poll(port, "/metrics/components", for: .seconds(30)) {
            $0.contains("\"status\":\"healthy\"")
        }
        #expect(healthy.met, "\(healthy.body)")

        engine.stopEngine()
        engineRunning = false
        let stoppedAt = ticks(in: await get(port, "/health") ?? "")
        let degraded = try await poll(port, "/health", for: .seconds(10)) { $0.contains("\"status\":\"degraded\"") }
        #expect(degraded.met, "\(degraded.body)")
        #expect(
            ticks(in: degraded.body) - stoppedAt <= 2,
            "degraded after \(ticks(in: degraded.body) - stoppedAt) ticks"
        )
        #expect(
            degraded.body.contains("docker: cannot connect to the Docker engine at unix://\(engine.socket)"),
            "\(degraded.body)"
        )
        // Stopping this engine stops its containers: the agent, which reads figures from the
        // kernel and learnt of the container's death from the engine's events (or from its main
        // process gone), reads it down; had it not learnt, it would read unknown with the reason.
        let components = await get(port, "/metrics/components") ?? ""
        #expect(
            components.contains("\"status\":\"down\"") || components.contains("\"status\":\"unknown\""),
            "\(components)"
        )
        #expect(!components.contains("\"status\":\"healthy\""), "\(components)")
        let status = try ChildProcess(
            "/usr/bin/env",
            ["-u", "RESOURCE_WATCHER_TOKEN", agent, "status", "--config", configPath],
            mergeStandardError: true
        ).finish()
        #expect(status.status == 1, "\(status.output)")
        #expect(
            status.output.hasPrefix("Docker: cannot connect to the Docker engine at unix://\(engine.socket)"),
            "\(status.output)"
        )
        #expect(
            status.output.contains("model is down") || status.output.contains("model is unknown"),
            "\(status.output)"
        )

        try engine.startEngine()
        engineRunning = true
        // The container comes back with the engine (--restart always); the agent was not restarted.
        let resumed = try await poll(port, "/metrics/components", for: .seconds(60)) {
            $0.contains("\"status\":\"healthy\"")
        }
        #expect(resumed.met, "\(resumed.body)")
        let health = try await poll(port, "/health", for: .seconds(10)) { $0.contains("\"status\":\"healthy\"") }
        #expect(health.met, "\(health.body)")
        #expect(kill(process.pid, 0) == 0, "the agent is still running")

        process.kill(SIGTERM)
        let (output, exitStatus) = try process.finish()
        #expect(exitStatus == 0, "\(output)")
        #expect(output.contains("Docker engine unavailable"), "a warning when it started failing")
        #expect(output.contains("Docker engine answers again"), "a notice when it recovered")
    }

    @Test(
        "a container's stdout and stderr lines reach the spool in order, once each, across an agent restart and a container restart"
    )
    func containerLogsAcrossRestarts() async throws {
        let engine = try DockerTestEngine.shared()
        let container = "rw\(UInt32.random(in: 0...UInt32.max))-talker"
        defer { _ = try? engine.docker("rm", "-f", container) }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spoolDirectory = directory.path + "/spool"
        let (configPath, port) = writeConfig(
            in: directory,
            engine: engine,
            pollIntervalSeconds: 0.2,
            component: "talker",
            container: container
        )
        func startAgent() async throws -> ChildProcess {
            let process = try ChildProcess(agent, ["run", "--config", configPath], mergeStandardError: true)
            let ready = try await poll(port, "/health", for: .seconds(30)) { $0.contains("\"last_tick\"") }
            #expect(ready.met)
            return process
        }
        func dockerLogs(_ redirect: String) throws -> [String] {
            let (output, status) = try DockerTestEngine.run(
                "/bin/sh",
                ["-c", "\(DockerTestEngine.dockerCLI) -H unix://\(engine.socket) logs \(container) \(redirect)"]
            )
            #expect(status == 0)
            return output.split(separator: "\n").map(String.init)
        }
        func waitForLine(_ text: String) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while !(try dockerLogs("2>/dev/null")).contains(text) {
                guard ContinuousClock.now < deadline else {
                    throw ChildProcess.Failure(description: "no \"\(text)\" line")
                }
                try await Task.sleep(for: .milliseconds(100))  // the next poll
            }
        }

        var agentProcess = try await startAgent()  // before the container: it is read from its start
        try engine.docker(
            "run",
            "-d",
            "--name",
            container,
            "--network",
            "none",
            DockerTestEngine.image,
            "sh",
            "-c",
            "n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs; i=0; "
                + "while [ $i -lt 200 ]; do i=$((i+1)); echo \"run $n out $i\"; echo \"run $n err $i\" >&2; usleep 10000; done; "
                + "echo \"run $n done\"; sleep 100000"
        )
        try await waitForLine("run 1 out 80")
        agentProcess.kill(SIGTERM)  // the agent restarts mid-stream
        let first = try agentProcess.finish()
        #expect(first.status == 0, "\(first.output)")
        agentProcess = try await startAgent()
        try await waitForLine("run 1 done")
        try engine.docker("restart", "-t", "0", container)
        try await waitForLine("run 2 done")
        // Until the agent has shipped the last line (`logs` reads the spool beside the running agent).
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let (output, _) = try ChildProcess(
                agent,
                ["logs", "--config", configPath, "--component", "talker", "--lines", "100000"],
                mergeStandardError: true
            ).finish()
            if output.contains("run 2 done") { break }
            try await Task.sleep(for: .milliseconds(100))  // the next poll
        }
        agentProcess.kill(SIGTERM)
        let second = try agentProcess.finish()
        #expect(second.status == 0, "\(second.output)")

        let logger = Logger.quiet("test")
        let spool = try Spool(directory: spoolDirectory, consumers: ["check"], logger: logger)
        defer { spool.close() }
        let records = try spool.reader(for: "check").read(maxRecords: 100_000).records
            .filter { $0.kind == .logs }
            .flatMap { try ResourceWatcher_V1_Batch(serializedBytes: $0.payload).logs }
            .filter { $0.component == "talker" }
        for (stream, redirect) in [("stdout", "2>/dev/null"), ("stderr", "2>&1 >/dev/null")] {
            let expected = try dockerLogs(redirect)
            let received = records.filter { $0.metadata["stream"] == stream }.map(\.message)
            #expect(received == expected, "\(stream): \(received.count) records for \(expected.count) lines")
            #expect(expected.count >= (stream == "stdout" ? 402 : 400))
        }
        #expect(records.allSatisfy { $0.clientID == "tenant-a" && $0.source == "container" })
    }
}
