import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `resource-watcher status` against a real agent, as an operator runs it.
@Suite("status command", .serialized)
struct StatusCommandTests {
    private let agent = BuiltProducts.path(of: "resource-watcher")
    /// The SHA-256 of "status-test-token" (`printf status-test-token | sha256sum`).
    private let tokenHash = "504c2b7e3aafb40cb8e84ce31cd4e72833642dfe850565230ff7e89c72b8acf0"

    /// A running agent on random high ports and its config file.
    private struct RunningAgent {
        let process: ChildProcess
        let configPath: String
        let port: Int

        /// Stops the agent with SIGTERM and returns its exit status and output.
        func stop() throws -> (output: String, status: Int32) {
            process.kill(SIGTERM)
            return try process.finish()
        }
    }

    /// Starts the agent with `extra` config members and waits until `/health` answers with a
    /// completed tick and `until` holds for its body (`/health` shows ticks to operators, so
    /// with tokens configured the poll sends `operatorToken`).
    private func startAgent(
        in directory: TemporaryDirectory,
        extra: String = "",
        operatorToken: String? = nil,
        until ready: (String) -> Bool = { _ in true }
    ) async throws -> RunningAgent {
        let port = Int.random(in: 20_000...40_000)
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "tenant-a", "poll_interval_seconds": 0.2, "log_level": "warning",
             "port": \(port), "metrics_port": \(Int.random(in: 40_001...60_000)),
             "spool": {"dir": "\(directory.path)/spool"},
             "components": [{"name": "watcher-self", "process_name": "resource-watcher"},
                            {"name": "absent-model-server", "process_name": "no-such-process-xyz"}]\(extra)}
            """,
            to: configPath
        )
        let process = try ChildProcess(agent, ["run", "--config", configPath], mergeStandardError: true)
        let transport = CurlTransport(
            userAgent: "status-test",
            connectTimeout: .seconds(1),
            requestTimeout: .seconds(2)
        )
        let deadline = ContinuousClock.now + .seconds(30)
        var lastBody = ""
        while ContinuousClock.now < deadline {
            let headers = operatorToken.map { [("Authorization", "Bearer \($0)")] } ?? []
            if let response = try? await transport.send(
                HTTPRequest(url: "http://127.0.0.1:\(port)/health", headers: headers)
            ),
                response.status == 200
            {
                lastBody = String(decoding: response.body, as: UTF8.self)
                if lastBody.contains("\"last_tick\"") && ready(lastBody) {
                    return RunningAgent(process: process, configPath: configPath, port: port)
                }
            }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        process.kill()
        let (output, _) = try process.finish()
        throw ChildProcess.Failure(description: "the agent did not become ready; /health: \(lastBody)\n\(output)")
    }

    /// The sampler's tick count in a `/health` body.
    private func ticks(in health: String) -> Int {
        guard let range = health.range(of: "\"ticks\":") else { return 0 }
        return Int(String(health[range.upperBound...].prefix(while: \.isNumber))) ?? 0
    }

    private func status(_ arguments: [String], environment: [String] = []) throws -> (output: String, status: Int32) {
        // Through env(1) so the test's own RESOURCE_WATCHER_TOKEN, if any, never leaks in.
        try ChildProcess(
            "/usr/bin/env",
            ["-u", "RESOURCE_WATCHER_TOKEN"] + environment + [agent, "status"] + arguments,
            mergeStandardError: true
        ).finish()
    }

    @Test("status summarises a healthy agent and exits 0; once the agent stops it exits 3, unreachable")
    func healthyThenUnreachable() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // Three ticks: component_down fires after `for_samples` (2) samples of the absent component.
        let running = try await startAgent(
            in: directory,
            until: { $0.contains("\"status\":\"healthy\"") && ticks(in: $0) >= 3 }
        )
        let result = try status(["--config", running.configPath])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("http://127.0.0.1:\(running.port) is healthy"), "\(result.output)")
        #expect(result.output.contains("version 0.1.0"), "\(result.output)")
        for name in ["watcher-self", "absent-model-server"] {
            #expect(result.output.contains(name), "\(result.output)")
        }
        #expect(result.output.contains("CPU %") && result.output.contains("MEM MiB"), "\(result.output)")
        // The absent component is down, which raises a component_down alert.
        #expect(result.output.contains("component_down"), "\(result.output)")
        #expect(result.output.contains("spool: "), "\(result.output)")
        #expect(result.output.contains(" bytes ("), "\(result.output)")
        #expect(result.output.contains("sinks: none configured"), "\(result.output)")

        let stopped = try running.stop()
        #expect(stopped.status == 0, "\(stopped.output)")
        let unreachable = try status(["--config", running.configPath, "--timeout", "1"])
        #expect(unreachable.status == 3, "\(unreachable.output)")
        #expect(unreachable.output.contains("unreachable"), "\(unreachable.output)")
        #expect(unreachable.output.contains("hint:"), "\(unreachable.output)")
    }

    @Test("a sink that cannot deliver makes status exit 1 and show the sink's lag and last error")
    func failingSinkIsDegraded() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        // Port 9 (discard) has no listener here: every remote-write attempt fails to connect.
        let running = try await startAgent(
            in: directory,
            extra: #", "sinks": {"prometheus_remote_write": {"url": "http://127.0.0.1:9/api/v1/write"}}"#,
            until: { $0.contains("\"status\":\"degraded\"") }
        )
        defer { _ = try? running.stop() }
        let result = try status(["--config", running.configPath])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains("is degraded"), "\(result.output)")
        #expect(result.output.contains("degraded: sink prometheus is failing"), "\(result.output)")
        #expect(result.output.contains("LAG RECORDS"), "\(result.output)")
        #expect(result.output.contains("prometheus  failing"), "\(result.output)")
        #expect(result.output.contains("prometheus last error:"), "\(result.output)")
        #expect(result.output.contains("never"), "no request ever succeeded: \(result.output)")
    }

    @Test("with tokens configured, status needs --token or RESOURCE_WATCHER_TOKEN; without one it exits 3 with a hint")
    func tokens() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let running = try await startAgent(
            in: directory,
            extra: #", "auth": {"tokens": [{"client_id": "tenant-a", "sha256": "\#(tokenHash)"}], "#
                + #""operator_tokens": [{"sha256": "93012f9941894215c5c5770563353dd2ae5b54a6dd54cfcfd6da365fe8292f16"}]}"#,
            operatorToken: "status-operator-token"
        )
        defer { _ = try? running.stop() }

        let missing = try status(["--config", running.configPath])
        #expect(missing.status == 3, "\(missing.output)")
        #expect(
            missing.output.contains("401 unauthorized: missing bearer token"),
            "the API's own message: \(missing.output)"
        )
        #expect(missing.output.contains("hint:") && missing.output.contains("--token"), "\(missing.output)")

        let wrong = try status(["--config", running.configPath, "--token", "not-the-token"])
        #expect(wrong.status == 3, "\(wrong.output)")
        #expect(wrong.output.contains("unknown bearer token"), "\(wrong.output)")

        let otherTenant = try status([
            "--config", running.configPath, "--token", "status-test-token", "--client-id", "tenant-b",
        ])
        #expect(otherTenant.status == 3, "\(otherTenant.output)")
        #expect(otherTenant.output.contains("403 forbidden"), "\(otherTenant.output)")

        let flag = try status(["--config", running.configPath, "--token", "status-test-token"])
        #expect(flag.status == 0, "\(flag.output)")
        #expect(flag.output.contains("watcher-self"), "\(flag.output)")
        let environment = try status(
            ["--config", running.configPath],
            environment: ["RESOURCE_WATCHER_TOKEN=status-test-token"]
        )
        #expect(environment.status == 0, "\(environment.output)")
    }

    @Test("an invalid configuration exits 2 like the other commands")
    func invalidConfig() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        writeText(#"{"port": "5220"}"#, to: directory.path + "/config.json")
        let result = try status(["--config", directory.path + "/config.json"])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("$.port"), "\(result.output)")
    }
}
