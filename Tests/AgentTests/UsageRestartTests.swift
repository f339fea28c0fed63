import Foundation  // JSONSerialization, to read the API's answer as a client would
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Usage events accepted by `POST /v1/usage` survive `kill -9`: each is in the spool before its
/// 202, and a restart counts every one exactly once, even while ticks land between posts.
@Suite("Usage totals across a crash", .serialized)
struct UsageRestartTests {
    private let agent = BuiltProducts.path(of: "resource-watcher")
    private let client = CurlTransport(
        userAgent: "usage-test",
        connectTimeout: .seconds(1),
        requestTimeout: .seconds(5)
    )

    private func start(_ configPath: String, _ directory: String, port: Int) async throws -> ChildProcess {
        let process = try ChildProcess(
            "/bin/sh",
            ["-c", "exec '\(agent)' run --config '\(configPath)' >>'\(directory)/agent.log' 2>&1"]
        )
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let reply = try? await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/health")),
                reply.status == 200
            {
                return process
            }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        throw ChildProcess.Failure(description: "the agent did not answer on port \(port)")
    }

    @Test("200 events posted while ticks land, then kill -9 and a restart: the totals count each once")
    func totalsSurviveKill() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let port = Int.random(in: 20_000...40_000)
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 0.1, "port": \(port), "metrics_port": \(port + 20_000),
             "spool": {"dir": "\(directory.path)/spool"}, "components": [{"name": "self", "process_name": "resource-watcher"}]}
            """,
            to: configPath
        )
        var agent = try await start(configPath, directory.path, port: port)
        for index in 0..<200 {
            let body =
                #"{"model": "llama2", "provider": "ollama", "tokens_input": 3, "tokens_output": 5, "latency_ms": 10}"#
            let reply = try await client.send(
                HTTPRequest(
                    method: .post,
                    url: "http://127.0.0.1:\(port)/v1/usage",
                    headers: [("Content-Type", "application/json")],
                    body: Array(body.utf8)
                )
            )
            try #require(reply.status == 202, "event \(index): \(String(decoding: reply.body, as: UTF8.self))")
        }
        agent.kill(SIGKILL)
        _ = agent.wait()
        agent = try await start(configPath, directory.path, port: port)
        defer {
            agent.kill(SIGKILL)
            _ = agent.wait()
        }
        let reply = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/metrics/models?client_id=acme"))
        let body = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
        let model = try #require((body["models"] as? [[String: Any]])?.first)
        #expect(model["requests_count"] as? Int == 200)
        #expect(model["tokens_input"] as? Int == 600)
        #expect(model["tokens_output"] as? Int == 1000)
        #expect(model["avg_latency_ms"] as? Double == 10)
    }
}
