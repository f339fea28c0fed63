import Foundation  // JSONSerialization, to read Prometheus' query API as a client would
import HTTPTransport
import Shipper
import SwiftProtobuf
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@Suite("Prometheus remote-write", .serialized)
struct RemoteWriteTests {
    private func batch(at timestamp: Int64, cpu: UInt32) -> ResourceWatcher_V1_Batch {
        var batch = ResourceWatcher_V1_Batch()
        batch.timestampUnixMs = timestamp
        var ollama = ResourceWatcher_V1_ComponentSample()
        ollama.name = "ollama"
        ollama.clientID = "acme"
        ollama.status = .healthy
        ollama.cpuUsageCentipercent = cpu
        ollama.memoryUsageKib = 1_275_494
        ollama.memoryUsageCentipercent = 3580
        ollama.networkInBytesPerSecond = 12800
        var down = ResourceWatcher_V1_ComponentSample()
        down.name = "langchain"
        down.clientID = "acme"
        down.status = .down
        var loaded = ResourceWatcher_V1_LoadedModel()
        loaded.name = "llama3.2:latest"
        loaded.sizeBytes = 3_825_819_519
        loaded.sizeVramBytes = 3_825_819_519
        ollama.loadedModels = [loaded]
        var kept = ResourceWatcher_V1_CustomMetric()
        kept.name = "vllm:num_requests_running"
        kept.labels = ["model_name": "llama", "component": "engine-0"]
        kept.value = 2
        ollama.customMetrics = [kept]
        batch.components = [ollama, down]
        var model = ResourceWatcher_V1_ModelUsage()
        model.clientID = "acme"
        model.name = "llama2"
        model.provider = "ollama"
        model.requestsCount = 4
        for microseconds: UInt64 in [15_000, 150_000, 300_000, 477_400] {
            ModelLatencyBuckets.observe(microseconds: microseconds, on: &model)
        }
        batch.models = [model]
        return batch
    }

    @Test("series carry sorted labels with __name__, job and instance, samples in time order, bounded per request")
    func encoding() throws {
        let encoder = RemoteWriteEncoder(instance: "ai-host-01", maxSamplesPerRequest: 4)
        let requests = encoder.requests(for: [batch(at: 1000, cpu: 1520), batch(at: 2000, cpu: 1600)])
        let series = requests.flatMap(\.timeseries)
        #expect(requests.allSatisfy { $0.timeseries.reduce(0) { $0 + $1.samples.count } <= 4 })
        let componentSeries = series.filter {
            $0.labels.contains { $0.name == "component" }
                && !$0.labels.contains { $0.name == "model" || $0.name == "exported_component" }
        }
        // 6 metrics x 2 ticks, down component skipped
        #expect(componentSeries.reduce(0) { $0 + $1.samples.count } == 12)
        for item in componentSeries {
            let names = item.labels.map(\.name)
            #expect(names == ["__name__", "client_id", "component", "instance", "job"])
            #expect(item.samples.map(\.timestamp) == item.samples.map(\.timestamp).sorted())
        }
        let cpu = series.filter { $0.labels[0].value == "resource_watcher_component_cpu_usage" }.flatMap(\.samples)
        #expect(cpu.map(\.value) == [15.2, 16])
        let memory = series.first { $0.labels[0].value == "resource_watcher_component_memory_usage" }!.samples[0].value
        #expect(abs(memory - 1245.599609375) < 1e-9)  // MiB
    }

    @Test("a real Prometheus accepts the requests and PromQL returns each metric with its labels and value")
    func realPrometheus() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        writeText("global:\n  scrape_interval: 1m\n", to: directory.path + "/prometheus.yml")
        let port = Int.random(in: 20_000...60_000)
        let prometheus = try ChildProcess(
            "/usr/bin/prometheus",
            [
                "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver",
            ],
            mergeStandardError: true
        )
        defer {
            prometheus.kill()
            prometheus.wait()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        var ready = false
        while !ready, ContinuousClock.now < deadline {
            let lines = try prometheus.readLines(atLeast: 1, deadline: deadline)
            if lines.isEmpty { break }
            ready = lines.contains { $0.contains("Server is ready to receive web requests") }
        }
        try #require(ready, "prometheus did not start")

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let batches = [
            batch(at: now - 30_000, cpu: 1520), batch(at: now - 20_000, cpu: 1600), batch(at: now - 10_000, cpu: 1700),
        ]
        let transport = CurlTransport(userAgent: "resource-watcher/test")
        for request in RemoteWriteEncoder(instance: "ai-host-01", maxSamplesPerRequest: 5).requests(for: batches) {
            let body = RemoteWriteEncoder.snappyCompress(try request.serializedBytes())
            let response = try await transport.send(
                HTTPRequest(
                    method: .post,
                    url: "http://127.0.0.1:\(port)/api/v1/write",
                    headers: [
                        ("Content-Encoding", "snappy"), ("Content-Type", "application/x-protobuf"),
                        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
                    ],
                    body: body
                )
            )
            #expect(response.status == 204, "\(String(decoding: response.body, as: UTF8.self))")
        }

        func query(_ promql: String) async throws -> [[String: Any]] {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "+&=")
            let encoded = promql.addingPercentEncoding(withAllowedCharacters: allowed)!
            let response = try await transport.send(
                HTTPRequest(
                    url: "http://127.0.0.1:\(port)/api/v1/query?query=\(encoded)&time=\(Double(now) / 1000)"
                )
            )
            let body = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            let data = try #require(body["data"] as? [String: Any])
            return try #require(data["result"] as? [[String: Any]])
        }
        let expected: [(String, Double)] = [
            ("resource_watcher_component_cpu_usage", 17), ("resource_watcher_component_memory_usage", 1245.599609375),
            ("resource_watcher_component_memory_usage_percent", 35.8), ("resource_watcher_component_disk_usage", 0),
            ("resource_watcher_component_network_in", 12.5), ("resource_watcher_component_network_out", 0),
        ]
        for (metric, value) in expected {
            let result = try await query("\(metric){component=\"ollama\"}")
            #expect(result.count == 1, "\(metric): \(result)")
            let labels = result.first?["metric"] as? [String: String]
            #expect(
                labels == [
                    "__name__": metric, "client_id": "acme", "component": "ollama", "instance": "ai-host-01",
                    "job": "resource-watcher",
                ]
            )
            let sample = result.first?["value"] as? [Any]
            #expect((sample?.last as? String).flatMap(Double.init) == value, "\(metric): \(String(describing: sample))")
        }
        let count = try await query("count_over_time(resource_watcher_component_cpu_usage{component=\"ollama\"}[1m])")
        #expect(((count.first?["value"] as? [Any])?.last as? String) == "3")
        #expect(try await query("resource_watcher_component_cpu_usage{component=\"langchain\"}").isEmpty)

        // Beyond the seed: loaded models, a kept series (colons as underscores, a clashing label
        // exported), and the latency histogram, all accepted and queryable.
        func value(_ promql: String) async throws -> Double? {
            let result = try await query(promql)
            return ((result.first?["value"] as? [Any])?.last as? String).flatMap(Double.init)
        }
        #expect(
            try await value(#"resource_watcher_model_loaded_vram_bytes{component="ollama",model="llama3.2:latest"}"#)
                == 3_825_819_519
        )
        let kept = try await query(#"vllm_num_requests_running{component="ollama"}"#)
        #expect((kept.first?["metric"] as? [String: String])?["exported_component"] == "engine-0")
        #expect(try await value(#"vllm_num_requests_running{component="ollama"}"#) == 2)
        #expect(try await value(#"resource_watcher_model_request_duration_seconds_count{model="llama2"}"#) == 4)
        #expect(
            try await value(#"resource_watcher_model_request_duration_seconds_bucket{model="llama2",le="0.32"}"#) == 3
        )
        let median = try await value(
            #"histogram_quantile(0.5, resource_watcher_model_request_duration_seconds_bucket{model="llama2"})"#
        )
        #expect(median.map { $0 > 0.08 && $0 <= 0.32 } == true, "median \(String(describing: median))")
    }
}
