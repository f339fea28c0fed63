import Foundation  // JSONSerialization in PrometheusServer's query results
import TestSupport
import Testing

/// `:5221/metrics` (DESIGN §8) checked by the real Prometheus tools of Debian's `prometheus`
/// package: `promtool check metrics` must accept it, and a Prometheus scraping it must see the
/// target up and the seed's metric values.
@Suite("Prometheus exposition")
struct ExpositionTests {
    /// Usage whose names need escaping in label values, so the check covers the escapes (control
    /// characters such as newlines are refused at ingest; `escapeLabelValue` is tested for them).
    private static let awkwardEvents = #"""
        [{"client_id": "acme", "model": "say \"hi\" \\ there", "provider": "ollama",
          "tokens_input": 1, "tokens_output": 2, "latency_ms": 10},
         {"client_id": "globex", "model": "back\\slash", "provider": "vllm", "tokens_input": 3, "tokens_output": 4},
         {"client_id": "acme", "model": "modèle-été", "provider": "ollama", "tokens_input": 5, "tokens_output": 6}]
        """#

    @Test("promtool check metrics accepts /metrics, with the seed's metric names in it")
    func promtoolAcceptsExposition() async throws {
        try await StatusAPIHarness.withServer { api in
            let posted = try await api.postUsage(Self.awkwardEvents, token: TenantFixtures.operatorToken)
            #expect(posted.status == 202, "\(posted.text)")
            let reply = try await api.metricsText()
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            for name in [
                "resource_watcher_component_cpu_usage", "resource_watcher_component_memory_usage",
                "resource_watcher_component_memory_usage_percent", "resource_watcher_component_disk_usage",
                "resource_watcher_model_request_count", "resource_watcher_model_tokens_processed",
                "resource_watcher_model_latency", "resource_watcher_spool_bytes", "resource_watcher_sink_lag_records",
            ] {
                #expect(reply.text.contains("# TYPE \(name) "), "no \(name) family")
            }
            #expect(
                reply.text.contains(#"resource_watcher_component_cpu_usage{client_id="acme",component="ollama"} 15.2"#)
            )
            #expect(reply.text.contains(#"model="say \"hi\" \\ there""#), "quote and backslash escaped")
            #expect(reply.text.contains(#"model="back\\slash""#), "backslash escaped")

            let result = try PrometheusProcess.checkMetrics(reply.text, file: api.directory.path + "/metrics.txt")
            #expect(result.status == 0, "promtool check metrics: \(result.output)")
        }
    }

    @Test("a real Prometheus scrapes /metrics: the target is up and the seed's cpu_usage comes through")
    func prometheusScrapes() async throws {
        try await StatusAPIHarness.withServer { api in
            let directory = TemporaryDirectory(prefix: "rw-status-prom")
            defer { directory.remove() }
            let job = "resource-watcher-status-test"
            let target = api.metricsURL.replacingOccurrences(of: "http://", with: "")
            let prometheus = try await PrometheusServer(
                directory: directory.path,
                scrapeConfigs: """
                      - job_name: \(job)
                        scrape_interval: 1s
                        scrape_timeout: 1s
                        authorization:
                          credentials: \(TenantFixtures.metricsToken)
                        static_configs:
                          - targets: ['\(target)']

                    """
            )
            defer { prometheus.kill() }

            let up = try await poll("up{job=\"\(job)\"} == 1", in: prometheus)
            #expect(up.count == 1, "up: \(up)")

            let query = "resource_watcher_component_cpu_usage{job=\"\(job)\",client_id=\"acme\",component=\"ollama\"}"
            let series = try await poll(query, in: prometheus)
            let value = try #require(series.first?["value"] as? [Any], "\(series)")
            #expect(value.last as? String == "15.2")
            let seedMetric = try await poll(
                "resource_watcher_model_tokens_processed{job=\"\(job)\",model=\"llama2\",direction=\"output\"}",
                in: prometheus
            )
            #expect((seedMetric.first?["value"] as? [Any])?.last as? String == "32456")
        }
    }

    /// Polls an instant query (with a deadline) until it returns at least one series.
    private func poll(_ promql: String, in prometheus: PrometheusServer) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(60)
        var last: [[String: Any]] = []
        while ContinuousClock.now < deadline {
            last = (try? await prometheus.query(promql)) ?? []
            if !last.isEmpty { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        let log = (try? String(contentsOfFile: prometheus.directory + "/prometheus.log", encoding: .utf8)) ?? ""
        Issue.record("no result for \(promql) within 60 s; prometheus.log ends:\n\(log.suffix(2000))")
        return last
    }
}
