import Foundation  // JSONSerialization: the dashboard model and Prometheus' API answers
import HTTPTransport
import TestSupport
import Testing
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// The Grafana dashboard (`config/grafana/dashboard.json`) and the alert rules
/// (`config/prometheus/alerts.yml`) against a real Prometheus (Debian's package) that holds what
/// the real agent sends it: its remote-write (components, models) and a scrape of its `:5221/metrics`
/// (up/down, alerts, the agent's health), as the install's `--enable-monitoring` snippets set up.
/// The Loki sink goes to the Loki stand-in (`loki_server.py`; no Loki runs here), so there are
/// two sinks' figures. Grafana itself cannot run here: the model is checked for what Grafana
/// needs of it (schema version, unique panel ids, every datasource a variable).
@Suite("Dashboard and alert rules against a real Prometheus", .serialized)
struct MonitoringAssetsTests {
    private let http = CurlTransport(
        userAgent: "monitoring-tests",
        connectTimeout: .seconds(1),
        requestTimeout: .seconds(5)
    )

    private func dashboard() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.repositoryPath("config/grafana/dashboard.json")))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Every panel, rows' nested panels included.
    private func panels(_ dashboard: [String: Any]) -> [[String: Any]] {
        let top = dashboard["panels"] as? [[String: Any]] ?? []
        return top + top.flatMap { $0["panels"] as? [[String: Any]] ?? [] }
    }

    @Test("the dashboard is a Grafana dashboard model: schema version, unique panel ids, every datasource a variable")
    func dashboardModel() throws {
        let model = try dashboard()
        #expect((model["schemaVersion"] as? Int ?? 0) >= 36, "schemaVersion \(model["schemaVersion"] ?? "missing")")
        #expect(model["uid"] as? String == "resource-watcher")
        let variables = (model["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        let byName = Dictionary(variables.map { ($0["name"] as? String ?? "", $0) }) { first, _ in first }
        #expect(byName["datasource"]?["type"] as? String == "datasource")
        #expect(byName["datasource"]?["query"] as? String == "prometheus")
        for name in ["client_id", "component"] {
            #expect(byName[name]?["type"] as? String == "query", "variable \(name)")
            let source = byName[name]?["datasource"] as? [String: Any]
            #expect(source?["uid"] as? String == "${datasource}", "variable \(name)'s datasource")
        }

        let all = panels(model)
        let ids = all.compactMap { $0["id"] as? Int }
        #expect(ids.count == all.count, "every panel has an id")
        #expect(Set(ids).count == ids.count, "panel ids are unique: \(ids.sorted())")
        for panel in all where panel["type"] as? String != "row" {
            let title = panel["title"] as? String ?? "?"
            let source = panel["datasource"] as? [String: Any]
            #expect(source?["uid"] as? String == "${datasource}", "panel \(title)'s datasource")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "panel \(title) has queries")
            for target in targets {
                #expect((target["datasource"] as? [String: Any])?["uid"] as? String == "${datasource}")
                #expect(!(target["expr"] as? String ?? "").isEmpty, "panel \(title) target \(target["refId"] ?? "?")")
            }
            let position = panel["gridPos"] as? [String: Int] ?? [:]
            #expect(
                (position["w"] ?? 0) > 0 && (position["x"] ?? 0) + (position["w"] ?? 0) <= 24,
                "panel \(title) fits"
            )
        }
        // The brief's contents: the six resources, up/down, alerts, model figures, agent health.
        let expressions = all.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        for metric in SeedMetrics.components.map(\.name) + [
            "resource_watcher_component_up", "resource_watcher_alert_active", "resource_watcher_model_request_count",
            "resource_watcher_model_tokens_processed", "resource_watcher_model_request_duration_seconds_bucket",
            "resource_watcher_spool_bytes", "resource_watcher_sink_lag_seconds",
            "resource_watcher_sink_dropped_requests_total", "resource_watcher_tick_duration_seconds",
        ] {
            let shown = expressions.contains {
                $0.range(of: metric + #"(?![a-z_])"#, options: .regularExpression) != nil
            }
            #expect(shown, "no panel shows \(metric)")
        }
    }

    @Test("every dashboard query and every alert rule runs on the agent's data in a real Prometheus and returns series")
    func queriesReturnSeries() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let port = try ProcessHelpers.freeLoopbackPort()
        let metricsPort = try ProcessHelpers.freeLoopbackPort()
        let prometheus = try await PrometheusServer(
            directory: directory.path,
            scrapeConfigs: """
                  - job_name: resource-watcher
                    static_configs:
                      - targets: ['127.0.0.1:\(metricsPort)']

                """,
            ruleFiles: [Fixtures.repositoryPath("config/prometheus/alerts.yml")]
        )
        defer { prometheus.kill() }
        let loki = try FixtureServer("loki_server.py")
        defer { loki.stop() }
        let worker = try ChildProcess("/bin/sleep", ["3600"])
        defer {
            worker.kill()
            _ = worker.wait()
        }
        writeText("\(worker.pid)\n", to: directory.path + "/worker.pid")
        // A component that is down (the pid of a process that has exited): component_up 0 and
        // an active component_down alert.
        let exited = try ChildProcess("/bin/true", [])
        _ = exited.wait()
        writeText("\(exited.pid)\n", to: directory.path + "/gone.pid")
        let configPath = directory.path + "/config.json"
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 0.5, "port": \(port), "metrics_port": \(metricsPort),
             "spool": {"dir": "\(directory.path)/spool"},
             "sinks": {"prometheus_remote_write": {"url": "\(prometheus.writeURL)"},
                       "loki": {"url": "\(loki.baseURL)"}},
             "alerts": {"for_samples": 1}, "host": true,
             "components": [{"name": "worker", "pid_file": "\(directory.path)/worker.pid"},
                            {"name": "gone", "pid_file": "\(directory.path)/gone.pid"}]}
            """,
            to: configPath
        )
        let agent = try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        defer { agent.kill() }

        // Model usage, in two steps so rates have an increase to see.
        for step in 0..<2 {
            let events = (0..<3).map { index in
                #"{"model": "llama3.2", "provider": "ollama", "tokens_input": \#(10 + index), "tokens_output": \#(40 + step), "latency_ms": \#(120 + 30 * index)}"#
            }
            let reply = try await http.send(
                HTTPRequest(
                    method: .post,
                    url: "http://127.0.0.1:\(port)/v1/usage",
                    headers: [("Content-Type", "application/json")],
                    body: Array(("[" + events.joined(separator: ",") + "]").utf8)
                )
            )
            #expect(reply.status == 202, "POST /v1/usage: \(String(decoding: reply.body, as: UTF8.self))")
            if step == 0 {
                try await pollUntil("two scrapes of the first usage", timeout: .seconds(30)) {
                    let held = try await prometheus.query("count_over_time(resource_watcher_model_request_count[1m])")
                    return held.contains { ((($0["value"] as? [Any])?.last as? String).flatMap(Double.init) ?? 0) >= 2 }
                }
            }
        }

        // Dashboard queries, with Grafana's variables as a viewer of tenant acme would set them.
        let queries = panels(try dashboard()).flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { target in
                (target["expr"] as? String).map { ("\(panel["title"] ?? "?") \(target["refId"] ?? "?")", $0) }
            }
        }.map { title, expression in
            (
                title,
                expression.replacingOccurrences(of: "$client_id", with: "acme")
                    .replacingOccurrences(of: "$component", with: ".+")
                    .replacingOccurrences(of: "$__rate_interval", with: "30s")
            )
        }
        var empty: [String] = []
        try await pollUntil("every dashboard query to return series", timeout: .seconds(60), context: "empty: \(empty)")
        {
            empty = []
            // GPU panels are empty on a machine without a GPU (this one): their series are
            // checked against the NVML stub in GPUTickTests, and their queries still run here.
            for (title, expression) in queries where try await prometheus.query(expression).isEmpty {
                if expression.contains("_gpu_") { continue }
                empty.append("\(title): \(expression)")
            }
            return empty.isEmpty
        }
        // The component variable's own query, and the down component on the up/down panel.
        let up = try await prometheus.query(#"max by (component) (resource_watcher_component_up{client_id="acme"})"#)
        let upByComponent = Dictionary(
            up.map {
                (($0["metric"] as? [String: String])?["component"] ?? "", ($0["value"] as? [Any])?.last as? String)
            }
        ) { first, _ in first }
        #expect(upByComponent["worker"] == "1" && upByComponent["gone"] == "0", "component_up: \(upByComponent)")

        // Rules: Prometheus evaluated each without error, and what each compares returns series
        // (its thresholds removed; absent() unwrapped: it has series only when its argument has none).
        var notReady: [String] = []
        var rules: [(name: String, query: String)] = []
        try await pollUntil("every rule evaluated", timeout: .seconds(30), context: "\(notReady)") {
            let groups = try await prometheus.api("/api/v1/rules")["groups"] as? [[String: Any]] ?? []
            let all = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
            notReady = all.filter { $0["health"] as? String != "ok" }.map {
                "\($0["name"] ?? "?"): \($0["lastError"] ?? "")"
            }
            rules = all.map { ($0["name"] as? String ?? "?", $0["query"] as? String ?? "") }
            return !all.isEmpty && notReady.isEmpty
        }
        #expect(rules.count == 7, "rules: \(rules.map(\.name))")
        for rule in rules {
            for measured in Self.measuredParts(of: rule.query) {
                let result = try await prometheus.query(measured)
                #expect(!result.isEmpty, "rule \(rule.name): \(measured) (from \(rule.query)) returns no series")
            }
        }
    }

    /// What an alert expression compares: its `or` operands at the top level, with every
    /// comparison against a number removed and `absent(x)` read as `x`.
    static func measuredParts(of query: String) -> [String] {
        var parts: [String] = []
        var depth = 0
        var current = ""
        var index = query.startIndex
        while index < query.endIndex {
            let character = query[index]
            if character == "(" || character == "[" || character == "{" { depth += 1 }
            if character == ")" || character == "]" || character == "}" { depth -= 1 }
            if depth == 0, query[index...].hasPrefix(" or ") {
                parts.append(current)
                current = ""
                index = query.index(index, offsetBy: 4)
                continue
            }
            current.append(character)
            index = query.index(after: index)
        }
        parts.append(current)
        return parts.map { part in
            var text = part.replacingOccurrences(
                of: #"\s*(==|!=|>=|<=|>|<)\s*-?[0-9][0-9.e+]*"#,
                with: "",
                options: .regularExpression
            ).trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("absent("), text.hasSuffix(")") { text = String(text.dropFirst(7).dropLast()) }
            return text
        }
    }

    @Test("the rules' measured parts: top-level or operands, thresholds removed, absent() unwrapped")
    func measuredPartsOfRules() {
        #expect(Self.measuredParts(of: "a > 0.8") == ["a"])
        #expect(
            Self.measuredParts(of: #"up{job="x"} == 0 or absent(up{job="x"})"#) == [#"up{job="x"}"#, #"up{job="x"}"#]
        )
        #expect(
            Self.measuredParts(of: "increase(a[10m]) > 0 or (a > 0 unless a offset 10m) or b >= 80")
                == ["increase(a[10m])", "(a unless a offset 10m)", "b"]
        )
    }
}
