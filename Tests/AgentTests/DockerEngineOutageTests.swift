import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The agent against a real Docker engine (`DockerTestEngine`) that stops mid-run and comes back.
@Suite("Docker engine outage", .serialized)
struct DockerEngineOutageTests {
    private let agent = BuiltProducts.path(of: "resource-watcher")
    private let http = CurlTransport(userAgent: "outage-test", connectTimeout: .seconds(1), requestTimeout: .seconds(2))

    private func get(_ port: Int, _ path: String) async -> String? {
        guard let response = try? await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)\(path)")),
            response.status == 200
        else { return nil }
        return String(decoding: response.body, as: UTF8.self)
    }

    /// Polls `path` every 50 ms until `condition` holds for its body; the last body either way.
    private func poll(_ port: Int, _ path: String, for limit: Duration, until condition: (String) -> Bool) async throws
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

    private func ticks(in health: String) -> Int {
        guard let range = health.range(of: "\"ticks\":") else { return 0 }
        return Int(String(health[range.upperBound...].prefix(while: \.isNumber))) ?? 0
    }

    @Test("engine stopped: components unknown with the reason, /health degraded within two ticks, status says Docker first; engine back: figures resume")
    func engineStopsAndReturns() async throws {
        let engine = try DockerTestEngine.shared()
        let container = "rw\(UInt32.random(in: 0...UInt32.max))-model"
        try engine.docker("run", "-d", "--name", container, "--network", "none", "--restart", "always",
                          DockerTestEngine.image, "sleep", "100000")
        defer { _ = try? engine.docker("rm", "-f", container) }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let port = Int.random(in: 20_000...40_000)
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "tenant-a", "poll_interval_seconds": 0.5, "port": \(port),
             "metrics_port": \(Int.random(in: 40_001...60_000)), "docker_socket": "\(engine.socket)",
             "spool": {"dir": "\(directory.path)/spool"},
             "components": [{"name": "model", "container_name": "\(container)"}]}
            """,
            to: configPath)
        let process = try ChildProcess(agent, ["run", "--config", configPath], mergeStandardError: true)
        var engineRunning = true
        defer { if !engineRunning { try? engine.startEngine() } }

        let healthy = try await poll(port, "/metrics/components", for: .seconds(30)) { $0.contains("\"status\":\"healthy\"") }
        #expect(healthy.met, "\(healthy.body)")

        engine.stopEngine()
        engineRunning = false
        let stoppedAt = ticks(in: await get(port, "/health") ?? "")
        let degraded = try await poll(port, "/health", for: .seconds(10)) { $0.contains("\"status\":\"degraded\"") }
        #expect(degraded.met, "\(degraded.body)")
        #expect(ticks(in: degraded.body) - stoppedAt <= 2, "degraded after \(ticks(in: degraded.body) - stoppedAt) ticks")
        #expect(degraded.body.contains("docker: cannot connect to the Docker engine at unix://\(engine.socket)"), "\(degraded.body)")
        let components = await get(port, "/metrics/components") ?? ""
        #expect(components.contains("\"status\":\"unknown\""), "\(components)")
        #expect(components.contains("\"status_reason\":\"cannot connect to the Docker engine"), "\(components)")
        let status = try ChildProcess(
            "/usr/bin/env", ["-u", "RESOURCE_WATCHER_TOKEN", agent, "status", "--config", configPath], mergeStandardError: true
        ).finish()
        #expect(status.status == 1, "\(status.output)")
        #expect(status.output.hasPrefix("Docker: cannot connect to the Docker engine at unix://\(engine.socket)"), "\(status.output)")
        #expect(status.output.contains("model is unknown: cannot connect"), "\(status.output)")

        try engine.startEngine()
        engineRunning = true
        // The container comes back with the engine (--restart always); the agent was not restarted.
        let resumed = try await poll(port, "/metrics/components", for: .seconds(60)) { $0.contains("\"status\":\"healthy\"") }
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
}
