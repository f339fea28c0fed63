import Foundation  // JSONSerialization, to read the API's answers as a client would
import HTTPTransport
import TestSupport
import Testing

/// `metrics_url` scraping, end to end: the real agent scrapes a stand-in endpoint
/// (`Tests/Fixtures/metrics_endpoint.py`) serving vLLM, llama.cpp and TGI expositions written
/// exactly as those servers write them (`ServerFixtures`; none of the servers can run here).
@Suite("metrics_url scraping", .serialized)
struct MetricsScrapeTests {
    private let http = CurlTransport(
        userAgent: "scrape-tests",
        connectTimeout: .seconds(2),
        requestTimeout: .seconds(10)
    )

    private func put(_ endpoint: FixtureServer, _ name: String, _ body: String) async throws {
        let reply = try await http.send(
            HTTPRequest(
                method: .put,
                url: endpoint.baseURL + "/__body/" + name,
                headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                body: Array(body.utf8)
            )
        )
        try #require(reply.status == 204)
    }

    private func hits(_ endpoint: FixtureServer, _ name: String) async throws -> Int {
        let reply = try await http.send(HTTPRequest(url: endpoint.baseURL + "/__hits/" + name))
        return (try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])?["hits"] as? Int ?? 0
    }

    /// Waits until every endpoint in `names` was scraped at least `count` times in all.
    private func waitForScrapes(_ endpoint: FixtureServer, _ names: [String], atLeast count: [String: Int]) async throws
    {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            var done = true
            for name in names where try await hits(endpoint, name) < count[name, default: 1] { done = false }
            if done { return }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        Issue.record("the agent did not scrape \(names) \(count) times")
    }

    private func models(port: Int) async throws -> [String: [String: Any]] {
        let reply = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)/metrics/models?client_id=acme"))
        let body = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        var byName: [String: [String: Any]] = [:]
        for model in body?["models"] as? [[String: Any]] ?? [] {
            byName["\(model["provider"] ?? "")/\(model["name"] ?? "")"] = model
        }
        return byName
    }

    /// Polls `/metrics/models` until `done` holds (15 s at most); returns the last answer.
    private func waitForModels(
        port: Int,
        until done: ([String: [String: Any]]) -> Bool
    ) async throws -> [String: [String: Any]] {
        let deadline = ContinuousClock.now + .seconds(15)
        var last: [String: [String: Any]] = [:]
        while ContinuousClock.now < deadline {
            last = try await models(port: port)
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        return last
    }

    private func vllm(
        prompt: Double,
        generation: Double,
        stop: Double,
        length: Double,
        latency: Double,
        processStart: String = "1.72000000523e+09"
    ) -> String {
        ServerFixtures.vllm(
            processStart: processStart,
            engines: [
                ServerFixtures.VLLMEngine(
                    promptTokens: prompt,
                    generationTokens: generation,
                    finishedStop: stop,
                    finishedLength: length,
                    finishedAbort: 0,
                    latencySecondsSum: latency
                )
            ]
        )
    }

    private func llamaCpp(prompt: Int, predicted: Int) -> String {
        ServerFixtures.llamaCpp(
            promptTokens: "\(prompt)",
            cachedTokens: "0",
            promptSeconds: "1.5",
            predictedTokens: "\(predicted)",
            predictedSeconds: "3.25"
        )
    }

    @Test(
        "a discovered vLLM (found by its command line, no component configured) is scraped on the port it listens on: its counters become usage"
    )
    func discoveredServerIsScraped() async throws {
        // The stand-in's command line holds vLLM's module, as `python -m vllm.entrypoints...` would.
        let endpoint = try FixtureServer(
            "metrics_endpoint.py",
            ["--root", "vllm", "--process-tag", "vllm.entrypoints.openai.api_server"]
        )
        defer { endpoint.stop() }
        let directory = TemporaryDirectory(prefix: "rw-scrape")
        defer { directory.remove() }
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()
        try await put(endpoint, "vllm", vllm(prompt: 1000, generation: 2000, stop: 10, length: 2, latency: 30))
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 0.2, "port": \(port), "metrics_port": \(metricsPort),
             "spool": {"dir": "\(directory.path)/spool"},
             "discovery": {"enabled": true, "interval_seconds": 1},
             "components": []}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill() }
        try await waitForScrapes(endpoint, ["vllm"], atLeast: [:])
        #expect(try await models(port: port).isEmpty, "a baseline scrape is not usage")
        try await put(endpoint, "vllm", vllm(prompt: 1100, generation: 2250, stop: 13, length: 3, latency: 32))
        let vllmModel = "vllm/" + ServerFixtures.llamaModel
        let counted = try await waitForModels(port: port) { $0[vllmModel]?["requests_count"] as? Int == 4 }
        #expect(counted[vllmModel]?["requests_count"] as? Int == 4)
        #expect(counted[vllmModel]?["tokens_input"] as? Int == 100)
        #expect(counted[vllmModel]?["tokens_output"] as? Int == 250)
    }

    @Test(
        "vLLM, llama.cpp and TGI counters become model usage as deltas; a restart and a malformed line neither lose nor invent requests; custom_metrics are kept; /metrics stays valid"
    )
    func scrapedCountersBecomeUsage() async throws {
        let endpoint = try FixtureServer("metrics_endpoint.py")
        defer { endpoint.stop() }
        let directory = TemporaryDirectory(prefix: "rw-scrape")
        defer { directory.remove() }
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()

        // Scrape 1 is the baseline: these servers started before the agent.
        try await put(endpoint, "vllm", vllm(prompt: 1000, generation: 2000, stop: 10, length: 2, latency: 30))
        try await put(endpoint, "llamacpp", llamaCpp(prompt: 500, predicted: 700))
        try await put(
            endpoint,
            "tgi",
            ServerFixtures.tgi(
                .init(requestCount: 7, requestSuccess: 6, inputTokensSum: 300, generatedTokensSum: 900, durationSum: 12)
            )
        )
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 0.2, "port": \(port), "metrics_port": \(metricsPort),
             "spool": {"dir": "\(directory.path)/spool"},
             "components": [
               {"name": "vllm", "process_name": "resource-watcher", "metrics_url": "\(endpoint.baseURL)/vllm/metrics",
                "custom_metrics": ["vllm:num_requests_running", "vllm:kv_cache_usage_perc"]},
               {"name": "llama-server", "process_name": "resource-watcher", "metrics_url": "\(endpoint.baseURL)/llamacpp/metrics",
                "custom_metrics": ["llamacpp:requests_processing"]},
               {"name": "tgi", "process_name": "resource-watcher", "metrics_url": "\(endpoint.baseURL)/tgi/metrics"}]}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill() }
        let names = ["vllm", "llamacpp", "tgi"]
        try await waitForScrapes(endpoint, names, atLeast: [:])
        #expect(try await models(port: port).isEmpty, "a baseline scrape is not usage")

        // Scrape 2: the counters moved.
        try await put(endpoint, "vllm", vllm(prompt: 1100, generation: 2250, stop: 13, length: 3, latency: 32))
        try await put(endpoint, "llamacpp", llamaCpp(prompt: 540, predicted: 760))
        try await put(
            endpoint,
            "tgi",
            ServerFixtures.tgi(
                .init(
                    requestCount: 10,
                    requestSuccess: 9,
                    inputTokensSum: 330,
                    generatedTokensSum: 990,
                    durationSum: 13.5
                )
            )
        )
        let vllmModel = "vllm/" + ServerFixtures.llamaModel
        var counted = try await waitForModels(port: port) { models in
            models[vllmModel]?["requests_count"] as? Int == 4 && models["tgi/tgi"]?["requests_count"] as? Int == 3
                && models["llamacpp/llama-server"]?["tokens_input"] as? Int == 40
        }
        #expect(counted[vllmModel]?["tokens_input"] as? Int == 100)
        #expect(counted[vllmModel]?["tokens_output"] as? Int == 250)
        #expect(counted[vllmModel]?["avg_latency_ms"] as? Double == 500)  // 2 s over 4 requests
        #expect(counted["tgi/tgi"]?["tokens_input"] as? Int == 30)
        #expect(counted["tgi/tgi"]?["tokens_output"] as? Int == 90)
        #expect(counted["tgi/tgi"]?["avg_latency_ms"] as? Double == 500)  // 1.5 s over 3 requests
        #expect(counted["llamacpp/llama-server"]?["tokens_output"] as? Int == 60)
        #expect(counted["llamacpp/llama-server"]?["requests_count"] as? Int == 0, "llama.cpp counts no requests")

        // Scrape 3: vLLM restarted (new start time, counters from zero); TGI's body has a
        // malformed line in the middle. The restart's requests count whole, the malformed line
        // costs nothing else.
        let restartedAt = "\(Int(Date().timeIntervalSince1970) + 1).0"
        try await put(
            endpoint,
            "vllm",
            vllm(prompt: 10, generation: 20, stop: 1, length: 0, latency: 0.5, processStart: restartedAt)
        )
        let tgi = ServerFixtures.tgi(
            .init(requestCount: 11, requestSuccess: 10, inputTokensSum: 340, generatedTokensSum: 1000, durationSum: 14)
        )
        var lines = tgi.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.insert("tgi_queue_size{broken 12", at: lines.count / 2)
        try await put(endpoint, "tgi", lines.joined(separator: "\n"))
        counted = try await waitForModels(port: port) { models in
            models[vllmModel]?["requests_count"] as? Int == 5 && models["tgi/tgi"]?["requests_count"] as? Int == 4
        }
        #expect(counted[vllmModel]?["requests_count"] as? Int == 5)
        #expect(counted[vllmModel]?["tokens_input"] as? Int == 110)
        #expect(counted[vllmModel]?["tokens_output"] as? Int == 270)
        #expect(counted["tgi/tgi"]?["requests_count"] as? Int == 4)
        #expect(counted["tgi/tgi"]?["tokens_input"] as? Int == 40)
        #expect(counted["tgi/tgi"]?["tokens_output"] as? Int == 100)
        // Later scrapes of unchanged counters add nothing.
        let scraped = try await hits(endpoint, "tgi")
        try await waitForScrapes(endpoint, ["tgi", "vllm"], atLeast: ["tgi": scraped + 3, "vllm": scraped + 3])
        let settled = try await models(port: port)
        #expect(settled[vllmModel]?["requests_count"] as? Int == 5)
        #expect(settled["tgi/tgi"]?["requests_count"] as? Int == 4)

        // custom_metrics: on the component in the API and on /metrics with its labels; promtool is happy.
        let reply = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)/metrics/components?client_id=acme"))
        let body = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        let component = (body?["metrics"] as? [[String: Any]])?.first { $0["component"] as? String == "llama-server" }
        let kept = component?["custom_metrics"] as? [[String: Any]]
        #expect(kept?.first?["name"] as? String == "llamacpp:requests_processing")
        #expect(kept?.first?["value"] as? Double == 1)
        let text = String(
            decoding: try await http.send(HTTPRequest(url: "http://127.0.0.1:\(metricsPort)/metrics")).body,
            as: UTF8.self
        )
        // Exported with colons as underscores (colons are for recording rules).
        #expect(text.contains(#"llamacpp_requests_processing{client_id="acme",component="llama-server"} 1.0"#))
        #expect(text.contains(#"vllm_kv_cache_usage_perc{client_id="acme",component="vllm",engine="0",model_name=""#))
        let check = try PrometheusProcess.checkMetrics(text, file: directory.path + "/metrics.txt")
        #expect(check.status == 0, "promtool check metrics: \(check.output)")
    }
}
