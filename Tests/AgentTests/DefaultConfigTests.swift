import HTTPTransport
import TestSupport
import Testing
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// The shipped default config (`make run`) on the built agent: the host and the agent itself
/// from the start, and an Ollama stand-in (a real process listening on 11434: the strict Ollama
/// API server of `Tests/Fixtures/llm_upstream.py`) discovered with its loaded models (`/api/ps`),
/// then down, then dropped when it exits.
@Suite("The default config", .serialized)
struct DefaultConfigTests {
    private let client = CurlTransport(
        userAgent: "default-config-test",
        connectTimeout: .seconds(1),
        requestTimeout: .seconds(5)
    )

    /// (component, status, discovered, loaded model names) of every component the API lists.
    private func components(
        port: Int
    ) async throws -> [(
        name: String, status: String, discovered: Bool, models: [String]
    )] {
        let reply = try await client.send(
            HTTPRequest(url: "http://127.0.0.1:\(port)/metrics/components?client_id=default")
        )
        guard reply.status == 200, let root = try? JSONParser.parse(reply.body) else { return [] }
        return (root["metrics"]?.elements ?? []).compactMap { metric in
            guard let name = metric["component"]?.text, let status = metric["status"]?.text else { return nil }
            let models = (metric["loaded_models"]?.elements ?? []).compactMap { $0["name"]?.text }
            return (name, status, metric["discovered"] == .bool(true), models)
        }
    }

    @Test(
        "make run's config shows the host and the agent, discovers an Ollama on 11434 with its loaded models, and drops it when it exits"
    )
    func hostAgentAndDiscoveredOllama() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let shipped = readText(Fixtures.path("../../config/resource-watcher.json"))
        let port = Int.random(in: 20_000...40_000)
        // The shipped file with this test's ports, spool and faster intervals. Its matcher stays:
        // the test runner (resource-watcherPackageTests.xctest) has the kernel command name
        // "resource-watche" too, which process_name "resource-watcher" must not take (its
        // executable is not resource-watcher), or the stand-in in the runner's tree is claimed.
        let config =
            shipped
            .replacing("\"port\": 5220", with: "\"port\": \(port)", maxReplacements: 1)
            .replacing(
                "\"metrics_port\": 5221",
                with: "\"metrics_port\": \(Int.random(in: 40_001...60_000))",
                maxReplacements: 1
            )
            .replacing("\"poll_interval_seconds\": 5", with: "\"poll_interval_seconds\": 0.2", maxReplacements: 1)
            .replacing("\"interval_seconds\": 30", with: "\"interval_seconds\": 1", maxReplacements: 1)
            .replacing("\"dir\": \"./spool\"", with: "\"dir\": \"\(directory.path)/spool\"", maxReplacements: 1)
        #expect(config.contains("\"host\": true") && config.contains("\"enabled\": true"))
        let configPath = directory.path + "/config.json"
        writeText(config, to: configPath)
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill(SIGTERM) }

        try await pollUntil("the host and the agent are sampled", timeout: .seconds(30)) {
            let listed = try await components(port: port)
            return listed.contains { $0.name == "host" && $0.status != "unknown" && !$0.discovered }
                && listed.contains { $0.name == "resource-watcher" && $0.status == "healthy" }
        }

        let ollama = try ChildProcess("/usr/bin/env", ["python3", Fixtures.path("llm_upstream.py"), "--port", "11434"])
        defer {
            ollama.kill()
            ollama.wait()
        }
        #expect(try ollama.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["LISTENING 11434"])
        try await pollUntil("ollama is discovered", timeout: .seconds(30)) {
            try await components(port: port).contains { $0.name == "ollama" && $0.status == "healthy" && $0.discovered }
        }
        // Its usage source is switched on: the models the stand-in's /api/ps lists.
        try await pollUntil("ollama's loaded models are read from its /api/ps", timeout: .seconds(30)) {
            try await components(port: port).first { $0.name == "ollama" }?.models.sorted()
                == ["llama3.2:latest", "nomic-embed-text:latest"]
        }

        ollama.kill()
        ollama.wait()
        try await pollUntil("ollama reads down", timeout: .seconds(30)) {
            try await components(port: port).contains { $0.name == "ollama" && $0.status == "down" }
        }
        try await pollUntil("ollama is dropped after the grace period", timeout: .seconds(30)) {
            try await !components(port: port).contains { $0.name == "ollama" }
        }
        let listed = try await components(port: port)
        #expect(listed.contains { $0.name == "host" } && listed.contains { $0.name == "resource-watcher" })
    }
}
