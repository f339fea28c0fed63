import Foundation  // JSONSerialization and NSDictionary, to compare what clients received
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The metering proxy, end to end: the real agent binary with two proxies, in front of a local
/// stand-in of the Ollama and OpenAI APIs (`Tests/Fixtures/llm_upstream.py`, built from their
/// public API docs: no LLM server runs here), driven by the official `ollama` and `openai`
/// Python clients (`llm_clients.py`) and by curl.
@Suite("Metering proxy", .serialized)
struct MeteringProxyTests {
    private let http = CurlTransport(
        userAgent: "proxy-tests",
        connectTimeout: .seconds(2),
        requestTimeout: .seconds(30)
    )

    /// An agent with an Ollama proxy (tenant acme) and an OpenAI proxy (tenant globex) in front of `upstreamPort`.
    private struct Setup {
        let directory: TemporaryDirectory
        let configPath: String
        let port: Int
        let metricsPort: Int
        let ollamaPort: Int
        let openAIPort: Int

        init(upstreamPort: Int) throws {
            directory = TemporaryDirectory(prefix: "rw-proxy")
            configPath = directory.path + "/config.json"
            port = try ProcessHelpers.freeLoopbackPort()
            metricsPort = try ProcessHelpers.freeLoopbackPort()
            ollamaPort = try ProcessHelpers.freeLoopbackPort()
            openAIPort = try ProcessHelpers.freeLoopbackPort()
            writeText(
                """
                {"client_id": "acme", "poll_interval_seconds": 0.2, "port": \(port), "metrics_port": \(metricsPort),
                 "spool": {"dir": "\(directory.path)/spool"},
                 "components": [
                   {"name": "ollama", "client_id": "acme", "ports": [\(upstreamPort)],
                    "proxy": {"listen_port": \(ollamaPort), "upstream": "http://127.0.0.1:\(upstreamPort)", "provider": "ollama"}},
                   {"name": "vllm", "client_id": "globex", "ports": [\(upstreamPort)],
                    "proxy": {"listen_port": \(openAIPort), "upstream": "http://127.0.0.1:\(upstreamPort)/", "provider": "openai"}}]}
                """,
                to: configPath
            )
        }

        func start() async throws -> AgentProcess {
            try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        }
    }

    // MARK: - Helpers

    private func json(_ bytes: [UInt8]) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes))
    }

    /// What `llm_clients.py` printed: the clients' results and the usage they saw.
    private func runClients(provider: String, baseURL: String) throws -> [String: Any] {
        let result = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("llm_clients.py"), "--provider", provider, "--base-url", baseURL]
        ).finish()
        try #require(result.status == 0, "llm_clients.py \(provider) \(baseURL): \(result.output)")
        return try #require(try json(Array(result.output.utf8)) as? [String: Any])
    }

    /// The requests the upstream received from clients (the agent's own `/api/ps` reads left out).
    private func upstreamRequests(_ upstream: FixtureServer) async throws -> [[String: Any]] {
        let reply = try await http.send(HTTPRequest(url: upstream.baseURL + "/__requests"))
        let requests = try #require(try json(reply.body) as? [[String: Any]])
        return requests.filter { request in
            !((request["headers"] as? [[String]]) ?? []).contains { $0 == ["User-Agent", "resource-watcher/scrape"] }
        }
    }

    private func clearUpstreamRequests(_ upstream: FixtureServer) async throws {
        _ = try await http.send(HTTPRequest(method: .delete, url: upstream.baseURL + "/__requests"))
    }

    private func models(_ setup: Setup, clientID: String) async throws -> [[String: Any]] {
        let reply = try await http.send(
            HTTPRequest(url: "http://127.0.0.1:\(setup.port)/metrics/models?client_id=\(clientID)")
        )
        let body = try #require(try json(reply.body) as? [String: Any])
        return body["models"] as? [[String: Any]] ?? []
    }

    /// Polls `/metrics/models` until `done` holds for the tenant's models (10 s at most).
    @discardableResult
    private func waitForModels(
        _ setup: Setup,
        clientID: String,
        until done: ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(10)
        var last: [[String: Any]] = []
        while ContinuousClock.now < deadline {
            last = try await models(setup, clientID: clientID)
            if done(last) { return last }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        return last
    }

    private func model(_ name: String, in models: [[String: Any]]) -> [String: Any]? {
        models.first { $0["name"] as? String == name }
    }

    private func metricsText(_ setup: Setup) async throws -> String {
        let reply = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(setup.metricsPort)/metrics"))
        return String(decoding: reply.body, as: UTF8.self)
    }

    /// The value of the exposition line that starts with `series` (name and labels as written).
    private func metricValue(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Polls `:metrics_port/metrics` until `series` has `value` (10 s at most).
    private func waitForMetric(_ setup: Setup, _ series: String, equals value: Double) async throws -> Double? {
        let deadline = ContinuousClock.now + .seconds(10)
        var last: Double?
        while ContinuousClock.now < deadline {
            last = metricValue(try await metricsText(setup), series)
            if last == value { return last }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        return last
    }

    /// curl's output bytes and exit status for a POST of `body` to `url` (`extra` flags first).
    private func curl(_ url: String, _ body: String, extra: [String] = []) throws -> (output: String, status: Int32) {
        try ChildProcess(
            "/usr/bin/curl",
            extra + ["-sS", "-N", "-H", "Content-Type: application/json", "--data-binary", body, url]
        ).finish()
    }

    // MARK: - Tests

    @Test(
        "the official ollama and openai clients get through the proxy exactly what they get directly; every model call is counted once, with its tokens"
    )
    func officialClientsThroughTheProxy() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(upstreamPort: upstream.port)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }

        for (provider, proxyPort, tenant) in [
            ("ollama", setup.ollamaPort, "acme"), ("openai", setup.openAIPort, "globex"),
        ] {
            try await clearUpstreamRequests(upstream)
            let direct = try runClients(provider: provider, baseURL: upstream.baseURL)
            let directRequests = try await upstreamRequests(upstream)
            try await clearUpstreamRequests(upstream)
            let proxied = try runClients(provider: provider, baseURL: "http://127.0.0.1:\(proxyPort)")
            let proxiedRequests = try await upstreamRequests(upstream)

            // Every client result (streamed chunks included) is the same through the proxy.
            let directResults = try #require(direct["results"] as? NSDictionary)
            #expect(directResults.count >= 8)
            #expect(directResults.isEqual(proxied["results"]), "\(provider): the clients saw different answers")

            // The upstream saw the same requests: method, path, query, body, and every header
            // but Host (the upstream's own, as a reverse proxy sends) and hop-by-hop ones.
            #expect(directRequests.count == proxiedRequests.count)
            for (sent, passed) in zip(directRequests, proxiedRequests) {
                for key in ["method", "path", "query", "body"] {
                    #expect((sent[key] as? String) == (passed[key] as? String), "\(provider) \(key)")
                }
                func endToEnd(_ request: [String: Any]) -> [[String]] {
                    ((request["headers"] as? [[String]]) ?? []).filter {
                        !["host", "connection", "keep-alive"].contains($0[0].lowercased())
                    }
                }
                #expect(endToEnd(sent) == endToEnd(passed), "\(provider) \(sent["path"] ?? "") headers")
            }

            // /metrics/models counts exactly what the clients saw, per model; tags, ps and
            // models.list are not model use.
            let expected = try #require(direct["expected"] as? [[String: Any]])
            #expect(!expected.isEmpty)
            let counted = try await waitForModels(setup, clientID: tenant) { models in
                expected.allSatisfy { want in
                    let got = models.first { $0["name"] as? String == want["model"] as? String }
                    return got?["requests_count"] as? Int == want["requests"] as? Int
                }
            }
            #expect(counted.count == expected.count, "\(provider): \(counted)")
            for want in expected {
                let name = try #require(want["model"] as? String)
                let got = try #require(model(name, in: counted), "\(provider) \(name) not counted")
                #expect(got["provider"] as? String == provider)
                #expect(got["requests_count"] as? Int == want["requests"] as? Int, "\(provider) \(name)")
                #expect(got["tokens_input"] as? Int == want["tokens_input"] as? Int, "\(provider) \(name)")
                #expect(got["tokens_output"] as? Int == want["tokens_output"] as? Int, "\(provider) \(name)")
                #expect(
                    got["requests_tokens_unknown"] as? Int == want["requests_tokens_unknown"] as? Int,
                    "\(provider) \(name)"
                )
            }
        }

        // The OpenAI tenant does not see the Ollama tenant's models, and the other way round.
        #expect(try await models(setup, clientID: "acme").allSatisfy { $0["provider"] as? String == "ollama" })
        #expect(try await models(setup, clientID: "globex").allSatisfy { $0["provider"] as? String == "openai" })

        // Ollama's /api/ps: the loaded models on the component, in MiB.
        let deadline = ContinuousClock.now + .seconds(10)
        var loaded: [[String: Any]] = []
        while ContinuousClock.now < deadline, loaded.isEmpty {
            let reply = try await http.send(
                HTTPRequest(url: "http://127.0.0.1:\(setup.port)/metrics/components?client_id=acme")
            )
            let body = try #require(try json(reply.body) as? [String: Any])
            let component = (body["metrics"] as? [[String: Any]])?.first { $0["component"] as? String == "ollama" }
            loaded = component?["loaded_models"] as? [[String: Any]] ?? []
            if loaded.isEmpty { try await Task.sleep(for: .milliseconds(50)) }  // the next poll
        }
        let llama = try #require(loaded.first { $0["name"] as? String == "llama3.2:latest" })
        #expect(llama["size_mib"] as? Double == 3648.6)
        #expect(llama["vram_mib"] as? Double == 3648.6)
        #expect(loaded.first { $0["name"] as? String == "nomic-embed-text:latest" }?["vram_mib"] as? Double == 0)

        // /metrics with the new families is still valid for promtool.
        let text = try await metricsText(setup)
        for family in [
            "resource_watcher_model_request_duration_seconds", "resource_watcher_model_time_to_first_byte_seconds",
            "resource_watcher_model_inference_seconds", "resource_watcher_proxy_responses_total",
            "resource_watcher_model_loaded_vram_bytes", "resource_watcher_model_requests_tokens_unknown_total",
        ] {
            #expect(text.contains("# TYPE \(family) "), "no \(family) family")
        }
        #expect(
            metricValue(
                text,
                #"resource_watcher_model_loaded_vram_bytes{client_id="acme",component="ollama",model="llama3.2:latest"}"#
            ) == 3_825_819_519
        )
        let check = try PrometheusProcess.checkMetrics(text, file: setup.directory.path + "/metrics.txt")
        #expect(check.status == 0, "promtool check metrics: \(check.output)")
    }

    @Test(
        "an upstream closing mid-stream, a malformed line, a truncated final object, a 500 and a client leaving: the client gets what the upstream gave, counts stay consistent, the proxy keeps serving"
    )
    func faults() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(upstreamPort: upstream.port)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        let ollama = "http://127.0.0.1:\(setup.ollamaPort)/api/generate"
        let openAI = "http://127.0.0.1:\(setup.openAIPort)/v1/chat/completions"

        func body(_ model: String, openAI: Bool) -> String {
            openAI
                ? #"{"model": "\#(model)", "messages": [{"role": "user", "content": "one two three"}], "stream": true}"#
                : #"{"model": "\#(model)", "prompt": "one two three"}"#
        }
        for (model, exitStatus) in [
            ("fault-close-midstream", Int32(18)), ("fault-malformed", 0), ("fault-truncated-final", 0),
            ("fault-500", 0),
        ] {
            for (url, path, isOpenAI) in [(ollama, "/api/generate", false), (openAI, "/v1/chat/completions", true)] {
                let direct = try curl(upstream.baseURL + path, body(model, openAI: isOpenAI))
                let proxied = try curl(url, body(model, openAI: isOpenAI))
                #expect(direct.status == exitStatus, "\(model) direct: \(direct.output)")
                #expect(proxied.status == direct.status, "\(model) \(path)")
                #expect(proxied.output == direct.output, "\(model) \(path): the client got other bytes")
            }
        }

        for (tenant, series) in [("acme", "ollama"), ("globex", "vllm")] {
            let counted = try await waitForModels(setup, clientID: tenant) { models in
                models.count == 3 && models.allSatisfy { $0["requests_count"] as? Int == 1 }
            }
            // Cut short and truncated: counted, tokens unknown (not guessed, not zero).
            for name in ["fault-close-midstream", "fault-truncated-final"] {
                let got = try #require(model(name, in: counted), "\(tenant) \(name): \(counted)")
                #expect(got["requests_count"] as? Int == 1)
                #expect(got["requests_tokens_unknown"] as? Int == 1)
                #expect(got["tokens_input"] as? Int == 0 && got["tokens_output"] as? Int == 0)
            }
            // A malformed line in the middle: the final object still gives the tokens.
            let malformed = try #require(model("fault-malformed", in: counted))
            #expect(malformed["tokens_input"] as? Int == 3)
            #expect(malformed["tokens_output"] as? Int == 2)
            #expect(malformed["requests_tokens_unknown"] as? Int == 0)
            // A 500 is passed through and is not model use.
            #expect(model("fault-500", in: counted) == nil)

            let text = try await metricsText(setup)
            let labels = #"client_id="\#(tenant)",component="\#(series)""#
            #expect(
                metricValue(text, #"resource_watcher_proxy_failures_total{\#(labels),reason="closed_mid_stream"}"#) == 1
            )
            // The malformed line (and, where it is read, the truncated final object).
            #expect(
                (metricValue(text, #"resource_watcher_proxy_failures_total{\#(labels),reason="malformed_response"}"#)
                    ?? 0)
                    >= 1
            )
            #expect(metricValue(text, #"resource_watcher_proxy_responses_total{\#(labels),status="5xx"}"#) == 1)
            #expect(metricValue(text, #"resource_watcher_proxy_metered_requests_total{\#(labels)}"#) == 3)
        }

        // A client that leaves mid-stream: counted as such, nothing left in flight, the next request is served.
        let leaving = try curl(ollama, body("fault-slow", openAI: false), extra: ["--max-time", "0.5"])
        #expect(leaving.status == 28, "curl should have timed out: \(leaving.output)")
        let labels = #"client_id="acme",component="ollama""#
        #expect(
            try await waitForMetric(
                setup,
                #"resource_watcher_proxy_failures_total{\#(labels),reason="client_disconnected"}"#,
                equals: 1
            ) == 1
        )
        #expect(
            try await waitForMetric(setup, #"resource_watcher_proxy_in_flight_requests{\#(labels)}"#, equals: 0) == 0
        )
        let after = try curl(ollama, #"{"model": "llama3.2", "prompt": "still here", "stream": false}"#)
        #expect(after.status == 0 && after.output.contains(#""done":true"#), "\(after.output)")
    }

    @Test(
        "upstream down: 502 with a JSON error naming the reason, counted; once the upstream is there the same proxy serves"
    )
    func upstreamDown() async throws {
        let upstreamPort = try ProcessHelpers.freeLoopbackPort()
        let setup = try Setup(upstreamPort: upstreamPort)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }

        let down = try await http.send(
            HTTPRequest(
                method: .post,
                url: "http://127.0.0.1:\(setup.ollamaPort)/api/generate",
                body: Array(#"{"model": "llama3.2", "prompt": "hi", "stream": false}"#.utf8)
            )
        )
        #expect(down.status == 502)
        #expect(down.header("Content-Type") == "application/json")
        let error = try #require((try json(down.body) as? [String: Any])?["error"] as? [String: Any])
        #expect(error["code"] as? String == "upstream_unavailable")
        #expect(error["reason"] as? String == "connect_failed")
        #expect((error["message"] as? String)?.contains("127.0.0.1:\(upstreamPort)") == true)
        let labels = #"client_id="acme",component="ollama""#
        let text = try await metricsText(setup)
        #expect(metricValue(text, #"resource_watcher_proxy_failures_total{\#(labels),reason="connect_failed"}"#) == 1)
        #expect(metricValue(text, #"resource_watcher_proxy_responses_total{\#(labels),status="502"}"#) == 1)
        #expect(
            try await models(setup, clientID: "acme").isEmpty,
            "a request that never reached a model is not model use"
        )

        let upstream = try FixtureServer("llm_upstream.py", port: upstreamPort)
        defer { upstream.stop() }
        let up = try curl(
            "http://127.0.0.1:\(setup.ollamaPort)/api/generate",
            #"{"model": "llama3.2", "prompt": "hi there", "stream": false}"#
        )
        #expect(up.status == 0 && up.output.contains(#""done":true"#), "\(up.output)")
        let counted = try await waitForModels(setup, clientID: "acme") { !$0.isEmpty }
        #expect(model("llama3.2", in: counted)?["requests_count"] as? Int == 1)
    }

    @Test("consecutive requests reuse the proxy's upstream connection instead of opening one each")
    func upstreamConnectionReused() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(upstreamPort: upstream.port)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        try await clearUpstreamRequests(upstream)
        let count = 20
        for _ in 0..<count {
            let reply = try await http.send(
                HTTPRequest(
                    method: .post,
                    url: "http://127.0.0.1:\(setup.ollamaPort)/api/generate",
                    body: Array(#"{"model": "llama3.2", "prompt": "hi", "stream": false}"#.utf8)
                )
            )
            #expect(reply.status == 200)
        }
        let requests = try await upstreamRequests(upstream)
        #expect(requests.count == count)
        let connections = Set(requests.compactMap { $0["peer_port"] as? Int })
        // One idle connection is there for each next request; a second may open on the other
        // event loop. One per request is the defect this guards (a TCP handshake and a
        // TIME-WAIT socket per proxied request).
        #expect(
            (1...2).contains(connections.count),
            "\(count) sequential requests reached the upstream over \(connections.count) connections"
        )
    }

    @Test("a 1 GiB streamed response passes through whole and is counted, while the agent's memory stays flat")
    func gibibyteStream() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(upstreamPort: upstream.port)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        let body = #"{"model": "fault-huge-1073741824", "prompt": "one two"}"#
        let sizeFlags = ["-o", "/dev/null", "-w", "%{size_download}"]
        let direct = try curl(upstream.baseURL + "/api/generate", body, extra: sizeFlags)
        let before = try #require(agent.peakResidentKiB())
        let proxied = try curl("http://127.0.0.1:\(setup.ollamaPort)/api/generate", body, extra: sizeFlags)
        let after = try #require(agent.peakResidentKiB())
        #expect(direct.status == 0 && proxied.status == 0)
        #expect(Int(direct.output) ?? 0 > 1 << 30)
        #expect(proxied.output == direct.output, "bytes received through the proxy")
        #expect(after - before < 64 * 1024, "peak RSS grew from \(before) KiB to \(after) KiB for a 1 GiB stream")
        let counted = try await waitForModels(setup, clientID: "acme") { !$0.isEmpty }
        let huge = try #require(model("fault-huge-1073741824", in: counted))
        #expect(huge["tokens_output"] as? Int == 16384)
        #expect(huge["tokens_input"] as? Int == 2)
    }

    @Test("kill -9 after the proxy counted 60 requests: the restarted agent still counts every one")
    func countedRequestsSurviveKill() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(upstreamPort: upstream.port)
        defer { setup.directory.remove() }
        var agent = try await setup.start()
        for index in 0..<60 {
            let reply = try await http.send(
                HTTPRequest(
                    method: .post,
                    url: "http://127.0.0.1:\(setup.ollamaPort)/api/chat",
                    body: Array(
                        #"{"model": "llama3.2", "messages": [{"role": "user", "content": "one two three four"}], "stream": \#(index % 2 == 0)}"#
                            .utf8
                    )
                )
            )
            try #require(reply.status == 200, "request \(index): \(reply.status)")
        }
        let counted = try await waitForModels(setup, clientID: "acme") {
            self.model("llama3.2", in: $0)?["requests_count"] as? Int == 60
        }
        #expect(model("llama3.2", in: counted)?["requests_count"] as? Int == 60)
        agent.kill(SIGKILL)
        agent = try await setup.start()
        defer { agent.kill() }
        let restored = try #require(model("llama3.2", in: try await models(setup, clientID: "acme")))
        #expect(restored["requests_count"] as? Int == 60)
        #expect(restored["tokens_input"] as? Int == 240)
        #expect(restored["tokens_output"] as? Int == 300)
    }
}
