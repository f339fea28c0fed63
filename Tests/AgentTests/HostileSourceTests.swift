import Foundation  // JSONSerialization, to read the API's answers as a client would
import HTTPTransport
import TestSupport
import Testing

/// The built agent against a hostile LLM server (`Tests/Fixtures/hostile_endpoint.py`): a local
/// process serving extreme numbers, endless names and series, a huge or trickled body on a port
/// the agent scrapes. For each case the agent stays up, every tick comes within two poll
/// intervals of its time, peak memory stays within 64 MiB of what it used before the server
/// turned hostile, and what was cut is counted on `/health` and `:5221/metrics`.
@Suite("hostile sources", .serialized)
struct HostileSourceTests {
    private static let pollSeconds = 1.0
    private let http = CurlTransport(
        userAgent: "hostile-tests",
        connectTimeout: .seconds(2),
        requestTimeout: .seconds(10)
    )

    private func json(_ url: String) async throws -> [String: Any] {
        let reply = try await http.send(HTTPRequest(url: url))
        return try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any] ?? [:]
    }

    private func hits(_ endpoint: FixtureServer, _ name: String) async throws -> Int {
        try await json(endpoint.baseURL + "/__hits/" + name)["hits"] as? Int ?? 0
    }

    /// Whether `pid` runs (a crashed child not yet reaped is a zombie: not running).
    private static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// The counts of `/health`'s `source_limited`, by "component/reason".
    private func limited(port: Int) async throws -> [String: Int] {
        let entries = try await json("http://127.0.0.1:\(port)/health")["source_limited"] as? [[String: Any]] ?? []
        var counts: [String: Int] = [:]
        for entry in entries {
            counts["\(entry["component"] ?? "")/\(entry["reason"] ?? "")"] = entry["count"] as? Int
        }
        return counts
    }

    /// What the agent did while `endpoint`'s `case` was hostile.
    private struct Outcome {
        var limited: [String: Int]
        var models: [[String: Any]]
        var components: [[String: Any]]
        var exposition: String
    }

    /// Starts the agent on `components` (JSON, `BASE` standing for the endpoint's URL), waits for
    /// a benign scrape of `case`, arms it, watches 8 poll intervals, and checks what every case
    /// must hold: the agent up, ticks on time, memory bounded, `reason` counted for `component`.
    private func run(
        case name: String,
        components: String,
        component: String,
        reason: String,
        or alternatives: [String] = [],
        limits: String? = nil
    ) async throws -> Outcome {
        let endpoint = try FixtureServer("hostile_endpoint.py")
        defer { endpoint.stop() }
        let directory = TemporaryDirectory(prefix: "rw-hostile")
        defer { directory.remove() }
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": \(Self.pollSeconds), "port": \(port), "metrics_port": \(metricsPort),
             "spool": {"dir": "\(directory.path)/spool"}\(limits.map { #", "limits": "# + $0 } ?? ""),
             "components": [\(components.replacingOccurrences(of: "BASE", with: endpoint.baseURL))]}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill() }
        try await pollUntil("two benign scrapes of \(name)") { try await hits(endpoint, name) >= 2 }
        let baselineKiB = try #require(agent.residentKiB())
        _ = try await http.send(HTTPRequest(method: .post, url: endpoint.baseURL + "/__arm/" + name))
        let armedAt = try await hits(endpoint, name)

        // Watch 8 intervals: the age of the last tick, seen every 100 ms, stays within two intervals.
        var oldestTickAgeSeconds = 0.0
        let watchUntil = ContinuousClock.now + .seconds(8 * Self.pollSeconds)
        while ContinuousClock.now < watchUntil {
            try #require(Self.isRunning(agent.process.pid), "the agent died while \(name) was hostile")
            let health = try await json("http://127.0.0.1:\(port)/health")
            if let sampler = health["sampler"] as? [String: Any], let last = sampler["last_tick"] as? String,
                let time = ISO8601DateFormatter.withFractions.date(from: last)
            {
                oldestTickAgeSeconds = max(oldestTickAgeSeconds, Date().timeIntervalSince(time))
            }
            try await Task.sleep(for: .milliseconds(100))  // the sampling period of the watch, not a synchronisation
        }
        #expect(try await hits(endpoint, name) > armedAt, "the hostile \(name) was scraped")
        #expect(
            oldestTickAgeSeconds <= 2 * Self.pollSeconds + 0.2,
            "a tick came \(oldestTickAgeSeconds) s after the one before (poll \(Self.pollSeconds) s)"
        )
        let peakKiB = try #require(agent.peakResidentKiB())
        #expect(peakKiB - baselineKiB < 64 * 1024, "peak RSS \(peakKiB) KiB against \(baselineKiB) KiB before")
        var counts: [String: Int] = [:]
        let reasons = [reason] + alternatives
        try await pollUntil("\(component)/\(reasons) counted", timeout: .seconds(10)) {
            counts = try await limited(port: port)
            return reasons.contains { counts["\(component)/\($0)", default: 0] > 0 }
        }
        let models =
            try await json("http://127.0.0.1:\(port)/metrics/models?client_id=acme")["models"] as? [[String: Any]]
        let components =
            try await json("http://127.0.0.1:\(port)/metrics/components?client_id=acme")["metrics"]
            as? [[String: Any]]
        let exposition = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(metricsPort)/metrics"))
        let text = String(decoding: exposition.body, as: UTF8.self)
        #expect(
            reasons.contains {
                text.contains("resource_watcher_source_limited_total{component=\"\(component)\",reason=\"\($0)\"}")
            }
        )
        #expect(Self.isRunning(agent.process.pid))
        return Outcome(limited: counts, models: models ?? [], components: components ?? [], exposition: text)
    }

    private static func scraped(_ name: String, custom: [String] = []) -> String {
        let kept = custom.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
            {"name": "\(name)", "process_name": "resource-watcher", "metrics_url": "BASE/\(name)/metrics",
             "custom_metrics": [\(kept)]}
            """
    }

    @Test(
        "extreme numbers (1e14 s latency for one request, 1e308, NaN, -Inf, a future start) never crash the agent; the latency is clamped and counted"
    )
    func extremeNumbers() async throws {
        let outcome = try await run(
            case: "extreme",
            components: Self.scraped("extreme", custom: ["vllm:num_requests_running"]),
            component: "extreme",
            reason: "number_out_of_range"
        )
        let model = outcome.models.first { $0["name"] as? String == "n" || $0["name"] as? String == "m" }
        #expect(model != nil, "the extreme counters still count as usage: \(outcome.models)")
    }

    @Test("model names of 200 KB each are cut to 256 bytes everywhere: /metrics/models, :5221/metrics, counted")
    func longModelNames() async throws {
        let outcome = try await run(
            case: "names",
            components: Self.scraped("names"),
            component: "names",
            reason: "model_name_cut"
        )
        #expect(!outcome.models.isEmpty, "the models still count")
        for model in outcome.models {
            #expect(((model["name"] as? String) ?? "").utf8.count <= 256)
        }
        #expect(outcome.limited["names/model_name_cut", default: 0] >= 16)
        let longest = outcome.exposition.split(separator: "\n").map(\.utf8.count).max() ?? 0
        #expect(longest < 1024, "the longest :5221/metrics line is \(longest) bytes")
    }

    @Test(
        "200,000 series of a custom metric: the scrape stops at limits.scrape_samples or its time budget, at most 256 series kept, counted"
    )
    func endlessSeries() async throws {
        let outcome = try await run(
            case: "series",
            components: Self.scraped("series", custom: ["vllm:num_requests_running"]),
            component: "series",
            reason: "scrape_samples_over_limit",
            // A busy machine may hit the tick's time budget first: either bound holds the cost.
            or: ["scrape_parse_time_over_budget", "scrape_timeout"],
            // Past the default 4 MiB body bound, which would refuse the whole answer first.
            limits: #"{"scrape_body_bytes": 33554432}"#
        )
        let component = outcome.components.first { $0["component"] as? String == "series" }
        let custom = try #require(component?["custom_metrics"] as? [Any], "the series are kept: \(outcome.components)")
        #expect(!custom.isEmpty && custom.count <= 256, "\(custom.count) custom series kept")
    }

    @Test("a custom series with 100 labels is left out and a 200 KB label value is cut, both counted")
    func hugeLabels() async throws {
        let outcome = try await run(
            case: "labels",
            components: Self.scraped("labels", custom: ["vllm:num_requests_running"]),
            component: "labels",
            reason: "custom_metric_labels_over_limit"
        )
        #expect(outcome.limited["labels/label_value_cut", default: 0] > 0)
    }

    @Test("a 50 MB /metrics body is refused at limits.scrape_body_bytes and counted")
    func hugeBody() async throws {
        _ = try await run(
            case: "huge",
            components: Self.scraped("huge"),
            component: "huge",
            reason: "scrape_body_too_large"
        )
    }

    @Test("a /metrics body trickled at 1 byte/s costs each tick at most its budget, and the cut is counted")
    func trickledBody() async throws {
        _ = try await run(
            case: "trickle",
            components: Self.scraped("trickle"),
            component: "trickle",
            reason: "scrape_timeout"
        )
    }

    @Test("an Ollama /api/ps of 10,000 loaded models keeps limits.loaded_models of them, names cut, counted")
    func endlessLoadedModels() async throws {
        let proxyPort = try ProcessHelpers.freeLoopbackPort()
        let outcome = try await run(
            case: "models",
            components: """
                {"name": "ollama", "process_name": "resource-watcher",
                 "proxy": {"listen_port": \(proxyPort), "upstream": "BASE/models", "provider": "ollama"}}
                """,
            component: "ollama",
            reason: "loaded_models_over_limit"
        )
        #expect(outcome.limited["ollama/model_name_cut", default: 0] > 0)
        let component = outcome.components.first { $0["component"] as? String == "ollama" }
        let loaded = component?["loaded_models"] as? [[String: Any]] ?? []
        #expect(!loaded.isEmpty && loaded.count <= 64, "\(loaded.count) loaded models kept")
        for model in loaded { #expect(((model["name"] as? String) ?? "").utf8.count <= 256) }
    }

    @Test(
        "a component's port that another process holds is never scraped; a port its own process listens on is"
    )
    func onlyOwnedPortsAreScraped() async throws {
        // Two servers: one is the component's own process (found by its command line), the other
        // a stranger on a port the other component lists.
        let owned = try FixtureServer("hostile_endpoint.py", ["--root", "owned"])
        defer { owned.stop() }
        let stranger = try FixtureServer("hostile_endpoint.py", ["--root", "stranger"])
        defer { stranger.stop() }
        let directory = TemporaryDirectory(prefix: "rw-owned")
        defer { directory.remove() }
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 0.5, "port": \(port), "metrics_port": \(metricsPort),
             "spool": {"dir": "\(directory.path)/spool"},
             "components": [
               {"name": "mine", "cmdline": "hostile_endpoint\\\\.py .*--root owned", "ports": [\(owned.port)],
                "custom_metrics": ["vllm:num_requests_running"]},
               {"name": "agent", "process_name": "resource-watcher", "ports": [\(stranger.port)],
                "custom_metrics": ["vllm:num_requests_running"]}]}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill() }
        try await pollUntil("the component's own port scraped three times") { try await hits(owned, "owned") >= 3 }
        // Three scrapes of the owned port took at least three ticks: the stranger's had as many chances.
        #expect(try await hits(stranger, "stranger") == 0, "the stranger's port was scraped")
        let components =
            try await json("http://127.0.0.1:\(port)/metrics/components?client_id=acme")["metrics"] as? [[String: Any]]
            ?? []
        let mine = components.first { $0["component"] as? String == "mine" }
        #expect((mine?["custom_metrics"] as? [Any])?.isEmpty == false, "the owned port's series are kept")
        let agentComponent = components.first { $0["component"] as? String == "agent" }
        #expect(agentComponent?["custom_metrics"] == nil, "nothing of the stranger's series is kept")
    }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with fractional seconds, as the agent writes times.
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
