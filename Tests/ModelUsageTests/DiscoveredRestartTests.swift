import Foundation  // JSONSerialization, to read the API's answers as a client would
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A discovered LLM server that restarts (killed with SIGKILL, started again: new PID, same
/// port) on the built agent: its component is taken up by the new process at the next tick,
/// never `down`, and its usage is counted once, whether the counters restart or continue.
/// The stand-in is `metrics_endpoint.py` serving its counters from a file the test writes, so
/// a restarted stand-in answers at once with what the test put there.
@Suite("Discovered servers that restart", .serialized)
struct DiscoveredRestartTests {
    private let http = CurlTransport(
        userAgent: "discovered-restart-tests",
        connectTimeout: .seconds(2),
        requestTimeout: .seconds(10)
    )

    private func json(_ url: String) async throws -> [String: Any] {
        let reply = try await http.send(HTTPRequest(url: url))
        return (try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]) ?? [:]
    }

    /// Tokens in, tokens out and requests the agent counted for `model` (provider/name).
    private func usage(port: Int, model: String) async throws -> [Int] {
        let body = try await json("http://127.0.0.1:\(port)/metrics/models?client_id=acme")
        let found = (body["models"] as? [[String: Any]] ?? []).first {
            "\($0["provider"] ?? "")/\($0["name"] ?? "")" == model
        }
        return ["tokens_input", "tokens_output", "requests_count"].map { found?[$0] as? Int ?? 0 }
    }

    /// Watches the API between ticks: every status the component showed, and whether a
    /// `component_down` alert was ever active for it.
    private final class Watch {
        var statuses: [String] = []
        var owners: Set<String> = []
        var componentDown = false
    }

    private func observe(_ watch: Watch, port: Int, component: String) async throws {
        let components = try await json("http://127.0.0.1:\(port)/metrics/components?client_id=acme")
        for metric in components["metrics"] as? [[String: Any]] ?? [] where metric["component"] as? String == component
        {
            if let status = metric["status"] as? String, watch.statuses.last != status { watch.statuses.append(status) }
            if let owner = metric["discovered_owner"] as? String { watch.owners.insert(owner) }
        }
        let alerts = try await json("http://127.0.0.1:\(port)/alerts?client_id=acme")
        for alert in alerts["alerts"] as? [[String: Any]] ?? []
        where alert["component"] as? String == component && alert["alert_type"] as? String == "component_down" {
            watch.componentDown = true
        }
    }

    /// Polls until the agent counted `expected` (tokens in, out, requests) for `model`, watching
    /// the component meanwhile; returns the last count.
    @discardableResult
    private func waitForUsage(
        _ expected: [Int],
        port: Int,
        model: String,
        watch: Watch,
        component: String,
        timeout: Duration = .seconds(20)
    ) async throws -> [Int] {
        let deadline = ContinuousClock.now + timeout
        var last: [Int] = []
        while ContinuousClock.now < deadline {
            try await observe(watch, port: port, component: component)
            last = try await usage(port: port, model: model)
            if last == expected { return last }
            try await Task.sleep(for: .milliseconds(100))  // the next poll, not a synchronisation
        }
        Issue.record("usage of \(model) is \(last), expected \(expected)")
        return last
    }

    /// Waits for the end of the next tick (`/health` counts one more), watching the component:
    /// a restart right after it happens well before the next tick.
    private func waitForTickEnd(port: Int, watch: Watch, component: String) async throws {
        let before = await AgentProcess.ticks(port: port)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            try await observe(watch, port: port, component: component)
            if await AgentProcess.ticks(port: port) > before { return }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        Issue.record("no tick ended within 20 s")
    }

    private func userName() -> String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return String(geteuid()) }
        return String(cString: name)
    }

    private func vllmBody(
        processStart: Double,
        prompt: Double,
        generation: Double,
        stop: Double,
        latency: Double
    )
        -> String
    {
        ServerFixtures.vllm(
            processStart: String(format: "%.3f", processStart),
            engines: [
                ServerFixtures.VLLMEngine(
                    promptTokens: prompt,
                    generationTokens: generation,
                    finishedStop: stop,
                    finishedLength: 0,
                    finishedAbort: 0,
                    latencySecondsSum: latency
                )
            ]
        )
    }

    @Test(
        "a discovered vLLM restarted three times (new PID, same port) at the shipped poll (5 s) and discovery (30 s) intervals is never down, raises no component_down, and its usage is counted once"
    )
    func restartedServerKeepsItsComponentAndUsage() async throws {
        let directory = TemporaryDirectory(prefix: "rw-restart")
        defer { directory.remove() }
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()
        let serverPort = try ProcessHelpers.freeLoopbackPort()
        let bodyPath = directory.path + "/vllm.metrics"
        // The stand-in's command line holds vLLM's module, as `python -m vllm.entrypoints...` would.
        func startServer() throws -> FixtureServer {
            try FixtureServer(
                "metrics_endpoint.py",
                ["--root", "vllm", "--process-tag", "vllm.entrypoints.openai.api_server", "--body-file", bodyPath],
                port: serverPort
            )
        }
        let started = Date().timeIntervalSince1970
        // Started before the agent: its first scrape is a baseline.
        writeText(vllmBody(processStart: 1.72e9, prompt: 1000, generation: 2000, stop: 10, latency: 30), to: bodyPath)
        var server = try startServer()
        defer { server.stop() }
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 5, "port": \(port), "metrics_port": \(metricsPort),
             "spool": {"dir": "\(directory.path)/spool"},
             "discovery": {"enabled": true, "interval_seconds": 30},
             "components": []}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill() }
        let model = "vllm/" + ServerFixtures.llamaModel
        let component = "vllm"
        let watch = Watch()
        // Tick 1 discovers it, tick 2 scrapes the baseline.
        try await pollUntil("the baseline scrape", timeout: .seconds(20)) {
            try await observe(watch, port: port, component: component)
            let hits = try await json(server.baseURL + "/__hits/vllm")["hits"] as? Int ?? 0
            return hits >= 1 && watch.statuses.last == "healthy"
        }
        try await waitForTickEnd(port: port, watch: watch, component: component)
        #expect(try await usage(port: port, model: model) == [0, 0, 0], "a baseline scrape is not usage")

        // Traffic on the first process: 100 in, 250 out, 3 requests.
        writeText(vllmBody(processStart: 1.72e9, prompt: 1100, generation: 2250, stop: 13, latency: 32), to: bodyPath)
        var expected = [100, 250, 3]
        try await waitForUsage(expected, port: port, model: model, watch: watch, component: component)

        // Each restart happens right after a tick, so the next tick is the first to see it.
        // 1: the counters restart from zero (a new process start time), with 50 in, 80 out, 2
        // requests served before the first scrape.
        try await waitForTickEnd(port: port, watch: watch, component: component)
        server.stop()
        writeText(vllmBody(processStart: started + 1, prompt: 50, generation: 80, stop: 2, latency: 3), to: bodyPath)
        server = try startServer()
        expected = [150, 330, 5]
        try await waitForUsage(expected, port: port, model: model, watch: watch, component: component)
        writeText(vllmBody(processStart: started + 1, prompt: 70, generation: 120, stop: 3, latency: 4), to: bodyPath)
        expected = [170, 370, 6]
        try await waitForUsage(expected, port: port, model: model, watch: watch, component: component)

        // 2: the counters continue (same process start time, as a paused or briefly missing
        // server's do): only what is new counts.
        try await waitForTickEnd(port: port, watch: watch, component: component)
        server.stop()
        writeText(vllmBody(processStart: started + 1, prompt: 90, generation: 150, stop: 4, latency: 5), to: bodyPath)
        server = try startServer()
        expected = [190, 400, 7]
        try await waitForUsage(expected, port: port, model: model, watch: watch, component: component)

        // 3: restarted from zero again.
        try await waitForTickEnd(port: port, watch: watch, component: component)
        server.stop()
        writeText(vllmBody(processStart: started + 2, prompt: 10, generation: 10, stop: 1, latency: 1), to: bodyPath)
        server = try startServer()
        expected = [200, 410, 8]
        try await waitForUsage(expected, port: port, model: model, watch: watch, component: component)
        // A tick later nothing more was counted, and it still runs as the last process.
        try await waitForTickEnd(port: port, watch: watch, component: component)
        try await waitForTickEnd(port: port, watch: watch, component: component)
        #expect(try await usage(port: port, model: model) == expected, "usage counted once")

        #expect(watch.statuses == ["healthy"], "the component's statuses: \(watch.statuses)")
        #expect(!watch.componentDown, "component_down was active")
        #expect(!readText(directory.path + "/agent.log").contains("component_down"), "an alert went firing")
        #expect(watch.owners == [userName()], "discovered_owner: \(watch.owners)")
    }

    @Test(
        "a discovered llama.cpp (no process start time) restarted and listening only seconds later: its first scrape's traffic is counted against the last scrape's baseline"
    )
    func countersWithoutStartTimeKeepTheFirstScrape() async throws {
        let directory = TemporaryDirectory(prefix: "rw-restart")
        defer { directory.remove() }
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()
        let serverPort = try ProcessHelpers.freeLoopbackPort()
        let bodyPath = directory.path + "/llama.metrics"
        // A Python named llama-server (its kernel command name and argv[0]), as discovery finds it.
        let executable = directory.path + "/llama-server"
        #expect(symlink("/usr/bin/python3", executable) == 0)
        func startServer(listenAfterSeconds: Double = 0) throws -> ChildProcess {
            let process = try ChildProcess(
                executable,
                [
                    Fixtures.path("metrics_endpoint.py"), "--port", "\(serverPort)", "--root", "llama",
                    "--body-file", bodyPath, "--listen-after", "\(listenAfterSeconds)",
                ]
            )
            if listenAfterSeconds == 0 {
                _ = try process.readLines(atLeast: 1, deadline: .now + .seconds(30))
            }
            return process
        }
        func llama(prompt: Int, predicted: Int) -> String {
            ServerFixtures.llamaCpp(
                promptTokens: "\(prompt)",
                cachedTokens: "0",
                promptSeconds: "1.5",
                predictedTokens: "\(predicted)",
                predictedSeconds: "3.25"
            )
        }
        writeText(llama(prompt: 1000, predicted: 2000), to: bodyPath)
        var server = try startServer()
        defer {
            server.killGroup()
            server.wait()
        }
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 1, "port": \(port), "metrics_port": \(metricsPort),
             "spool": {"dir": "\(directory.path)/spool"},
             "discovery": {"enabled": true, "interval_seconds": 30},
             "components": []}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill() }
        let model = "llamacpp/llama-server"
        let component = "llama-server"
        let watch = Watch()
        try await pollUntil("the baseline scrape", timeout: .seconds(20)) {
            try await observe(watch, port: port, component: component)
            let hits = try await json("http://127.0.0.1:\(serverPort)/__hits/llama")["hits"] as? Int ?? 0
            return hits >= 1
        }
        writeText(llama(prompt: 1100, predicted: 2300), to: bodyPath)
        try await waitForUsage([100, 300, 0], port: port, model: model, watch: watch, component: component)

        // Restarted: it loads for 3 s (3 ticks) before it listens, then its counters start from
        // zero with 40 in and 70 out already served when it is first scraped.
        try await waitForTickEnd(port: port, watch: watch, component: component)
        server.killGroup()
        server.wait()
        writeText(llama(prompt: 40, predicted: 70), to: bodyPath)
        server = try startServer(listenAfterSeconds: 3)
        try await waitForUsage([140, 370, 0], port: port, model: model, watch: watch, component: component)
        writeText(llama(prompt: 60, predicted: 100), to: bodyPath)
        try await waitForUsage([160, 400, 0], port: port, model: model, watch: watch, component: component)
        #expect(!watch.statuses.contains("down"), "the component's statuses: \(watch.statuses)")
    }
}
