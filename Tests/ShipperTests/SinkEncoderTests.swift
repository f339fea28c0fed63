import Foundation  // JSONSerialization, to read bodies as the destination would
import SwiftProtobuf
import Testing
import WatcherModel
import WatcherProto

@testable import Shipper

/// The sinks' encoders, without a network: what each destination would receive.
@Suite("Sink encoders")
struct SinkEncoderTests {
    static func component(
        _ name: String,
        _ status: ResourceWatcher_V1_ComponentStatus,
        cpu: UInt32 = 1520,
        clientID: String = "acme"
    ) -> ResourceWatcher_V1_ComponentSample {
        var sample = ResourceWatcher_V1_ComponentSample()
        sample.name = name
        sample.clientID = clientID
        sample.status = status
        sample.cpuUsageCentipercent = cpu
        sample.memoryUsageKib = 1_275_494
        sample.memoryUsageCentipercent = 3580
        return sample
    }

    static func batch(
        at timestamp: Int64,
        _ components: [ResourceWatcher_V1_ComponentSample]
    ) -> ResourceWatcher_V1_Batch {
        var batch = ResourceWatcher_V1_Batch()
        batch.schemaVersion = 1
        batch.agentID = "host-1/acme"
        batch.timestampUnixMs = timestamp
        batch.components = components
        return batch
    }

    static func transition(_ component: String, firing: Bool, at time: Int64) -> ResourceWatcher_V1_AlertTransition {
        var alert = ResourceWatcher_V1_Alert()
        alert.component = component
        alert.clientID = "acme"
        alert.alertType = .highCpuUsage
        alert.severity = .critical
        alert.valueCenti = 9750
        alert.thresholdCenti = 9500
        alert.sinceUnixMs = time
        alert.message = "\(component) CPU at 97.5% (critical threshold 95%)"
        var transition = ResourceWatcher_V1_AlertTransition()
        transition.alert = alert
        transition.state = firing ? .firing : .resolved
        transition.atUnixMs = time
        return transition
    }

    private func decode(_ request: OutgoingRequest) throws -> Prometheus_WriteRequest {
        // A real Prometheus decodes these in RemoteWriteTests and OutageTests; here libsnappy does.
        let bytes = try #require(RemoteWriteEncoder.snappyDecompress(request.request.body), "not snappy")
        return try Prometheus_WriteRequest(serializedBytes: bytes)
    }

    @Test("a component that goes down gets a staleness marker on each of its series, once")
    func stalenessMarkers() throws {
        var sink = RemoteWriteSink(
            url: "http://127.0.0.1:1/api/v1/write",
            tenantHeader: false,
            instance: "h",
            maxSamplesPerRequest: 2000
        )
        let up = Self.component("ollama", .healthy)
        let down = Self.component("ollama", .down)
        let requests =
            sink.encode([
                SpoolBatch(sequence: 1, kind: .sample, batch: Self.batch(at: 1000, [up])),
                SpoolBatch(sequence: 2, kind: .sample, batch: Self.batch(at: 2000, [down])),
            ]) + sink.encode([SpoolBatch(sequence: 3, kind: .sample, batch: Self.batch(at: 3000, [down]))])
        let series = try requests.map(decode).flatMap(\.timeseries)
        #expect(series.count == 6)
        for item in series {
            #expect(item.samples.map(\.timestamp) == [1000, 2000])
            #expect(item.samples[1].value.bitPattern == RemoteWriteEncoder.staleMarker.bitPattern)
        }
        #expect(requests.last?.acknowledgeThrough == 2, "the last request with data settles records 1 and 2")
    }

    @Test("with tenant_header each request holds one client_id and names it in X-Scope-OrgID")
    func remoteWriteTenants() throws {
        var sink = RemoteWriteSink(
            url: "http://127.0.0.1:1/api/v1/write",
            tenantHeader: true,
            instance: "h",
            maxSamplesPerRequest: 2000
        )
        let batch = Self.batch(
            at: 1000,
            [
                Self.component("a", .healthy, clientID: "acme"),
                Self.component("b", .healthy, clientID: "globex"),
            ]
        )
        let requests = sink.encode([SpoolBatch(sequence: 7, kind: .sample, batch: batch)])
        #expect(requests.count == 2)
        for request in requests {
            let tenant = try #require(request.request.headers.first { $0.name == "X-Scope-OrgID" }?.value)
            let clientIDs = Set(
                try decode(request).timeseries.flatMap(\.labels).filter { $0.name == "client_id" }.map(\.value)
            )
            #expect(clientIDs == [tenant])
        }
        #expect(requests.map(\.acknowledgeThrough) == [nil, 7])
    }

    @Test("model usage totals become the seed's model metrics, tokens split by direction")
    func modelMetrics() throws {
        var model = ResourceWatcher_V1_ModelUsage()
        model.clientID = "acme"
        model.name = "llama2"
        model.provider = "ollama"
        model.requestsCount = 4
        model.tokensInput = 100
        model.tokensOutput = 250
        // Four exactly measured latencies: 15 ms, 150 ms, 300 ms and 477.4 ms (942.4 ms in all).
        for microseconds: UInt64 in [15_000, 150_000, 300_000, 477_400] {
            ModelLatencyBuckets.observe(microseconds: microseconds, on: &model)
        }
        model.firstByteMicrosecondsSum = 30_000
        model.firstByteCount = 3
        model.requestsTokensUnknown = 1
        var batch = Self.batch(at: 1000, [])
        batch.models = [model]
        var sink = RemoteWriteSink(
            url: "http://127.0.0.1:1/api/v1/write",
            tenantHeader: false,
            instance: "h",
            maxSamplesPerRequest: 2000
        )
        let series = try sink.encode([SpoolBatch(sequence: 1, kind: .sample, batch: batch)]).map(decode).flatMap(
            \.timeseries
        )
        var values: [String: Double] = [:]
        for item in series {
            #expect(item.labels.map(\.name) == item.labels.map(\.name).sorted())
            let labels = Dictionary(uniqueKeysWithValues: item.labels.map { ($0.name, $0.value) })
            #expect(labels["model"] == "llama2" && labels["provider"] == "ollama" && labels["client_id"] == "acme")
            let suffix = labels["direction"].map { "/" + $0 } ?? labels["le"].map { "/le=" + $0 } ?? ""
            values[labels["__name__"]! + suffix] = item.samples.first?.value
        }
        #expect(values["resource_watcher_model_request_count"] == 4)
        #expect(values["resource_watcher_model_tokens_processed/input"] == 100)
        #expect(values["resource_watcher_model_tokens_processed/output"] == 250)
        #expect(values["resource_watcher_model_latency"] == 235.6)
        #expect(values["resource_watcher_model_requests_tokens_unknown_total"] == 1)
        // The histogram is cumulative: 15 ms falls in le=0.02, 150 ms in le=0.16, 300 ms in le=0.32, 477.4 ms in le=0.64.
        #expect(values["resource_watcher_model_request_duration_seconds_bucket/le=0.01"] == 0)
        #expect(values["resource_watcher_model_request_duration_seconds_bucket/le=0.02"] == 1)
        #expect(values["resource_watcher_model_request_duration_seconds_bucket/le=0.16"] == 2)
        #expect(values["resource_watcher_model_request_duration_seconds_bucket/le=0.32"] == 3)
        #expect(values["resource_watcher_model_request_duration_seconds_bucket/le=0.64"] == 4)
        #expect(values["resource_watcher_model_request_duration_seconds_bucket/le=+Inf"] == 4)
        #expect(values["resource_watcher_model_request_duration_seconds_count"] == 4)
        #expect(abs((values["resource_watcher_model_request_duration_seconds_sum"] ?? 0) - 0.9424) < 1e-9)
        #expect(abs((values["resource_watcher_model_time_to_first_byte_seconds_sum"] ?? 0) - 0.03) < 1e-9)
        #expect(values["resource_watcher_model_time_to_first_byte_seconds_count"] == 3)
        #expect(values.count == SeedMetrics.models.count, "one series per entry of SeedMetrics.models")
    }

    private func json(_ request: OutgoingRequest) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(request.request.body)) as? [String: Any])
    }

    @Test("Loki streams carry client_id, component, source and level, with nanosecond string timestamps in order")
    func lokiStreams() throws {
        var batch = Self.batch(at: 5000, [])
        for (index, message) in ["second", "first"].enumerated() {
            var record = ResourceWatcher_V1_LogRecord()
            record.timestampUnixNs = Int64(2 - index) * 1_000_000_000 + 17
            record.clientID = "acme"
            record.component = "ollama"
            record.source = "/var/log/ollama.log"
            record.level = .warning
            record.message = message
            batch.logs.append(record)
        }
        var agentLine = ResourceWatcher_V1_LogRecord()
        agentLine.timestampUnixNs = 3_000_000_000
        agentLine.clientID = "acme"
        agentLine.source = "agent"
        agentLine.level = .info
        agentLine.message = "resource-watcher started"
        agentLine.metadata = ["version": "0.1.0", "spool.dir": "/var/lib/my spool"]
        batch.logs.append(agentLine)
        var sample = Self.batch(at: 6000, [])
        sample.transitions = [Self.transition("ollama", firing: true, at: 6000)]
        var sink = LokiSink(url: "http://127.0.0.1:3100/", tenantHeader: false)
        let requests = sink.encode([
            SpoolBatch(sequence: 1, kind: .logs, batch: batch),
            SpoolBatch(sequence: 2, kind: .sample, batch: sample),
        ])
        #expect(requests.count == 1)
        #expect(requests[0].request.url == "http://127.0.0.1:3100/loki/api/v1/push")
        #expect(requests[0].acknowledgeThrough == 2)
        #expect(requests[0].itemCount == 4)
        let streams = try #require(try json(requests[0])["streams"] as? [[String: Any]])
        let byLabels = Dictionary(
            uniqueKeysWithValues: streams.map { ($0["stream"] as! [String: String], $0["values"] as! [[Any]]) }
        )
        let file = try #require(
            byLabels[["client_id": "acme", "component": "ollama", "source": "/var/log/ollama.log", "level": "warning"]]
        )
        #expect(file.map { $0[0] as? String } == ["1000000017", "2000000017"], "sorted by time")
        #expect(file.map { $0[1] as? String } == ["first", "second"])
        let agent = try #require(
            byLabels[["client_id": "acme", "component": "resource-watcher", "source": "agent", "level": "info"]]
        )
        #expect(agent.first?[1] as? String == "resource-watcher started spool.dir=\"/var/lib/my spool\" version=0.1.0")
        let alert = try #require(
            byLabels[["client_id": "acme", "component": "ollama", "source": "alert", "level": "critical"]]
        )
        #expect(alert.first?[0] as? String == "6000000000")
        let alertLine = try #require(
            try JSONSerialization.jsonObject(with: Data((alert.first?[1] as? String ?? "").utf8)) as? [String: Any]
        )
        #expect(alertLine["state"] as? String == "firing")
        #expect(alertLine["alert_type"] as? String == "high_cpu_usage")
        #expect(alertLine["value"] as? Double == 97.5)
    }

    @Test("a Loki line over 256 KiB is cut to fit, on a character boundary, and flagged")
    func lokiTruncation() {
        let long = String(repeating: "é", count: 200_000)  // 400,000 bytes
        let line = LokiSink.truncated(long)
        #expect(line.utf8.count <= LokiSink.maxLineBytes)
        #expect(line.utf8.count > LokiSink.maxLineBytes - 64)
        #expect(line.hasSuffix("…[truncated 400000 bytes]"))
        #expect(line.unicodeScalars.allSatisfy { $0 != "\u{FFFD}" }, "no split character")
        #expect(LokiSink.truncated("short") == "short")
    }

    @Test("orchestrator posts follow the /recommendations shape with a stable Idempotency-Key per transition")
    func orchestratorAlerts() throws {
        var batch = Self.batch(at: 9000, [Self.component("ollama", .degraded)])
        batch.transitions = [
            Self.transition("ollama", firing: true, at: 9000), Self.transition("db", firing: false, at: 9000),
        ]
        var sink = OrchestratorSink(
            baseURL: "http://127.0.0.1:5210/",
            alertsPath: "/recommendations",
            reportsPath: "reports"
        )
        let requests = sink.encode([SpoolBatch(sequence: 42, kind: .sample, batch: batch)])
        #expect(
            requests.map(\.request.url) == [
                "http://127.0.0.1:5210/recommendations", "http://127.0.0.1:5210/recommendations",
                "http://127.0.0.1:5210/reports",
            ]
        )
        #expect(
            requests.map { $0.request.headers.first { $0.name == "Idempotency-Key" }?.value } == [
                "host-1/acme:42:0", "host-1/acme:42:1", "host-1/acme:42",
            ]
        )
        #expect(requests.map(\.acknowledgeThrough) == [nil, nil, 42])
        let body = try json(requests[0])
        let context = try #require(body["context"] as? [String: Any])
        #expect(context["source"] as? String == "resource_watcher")
        #expect(context["client_id"] as? String == "acme")
        #expect(context["alert_type"] as? String == "high_cpu_usage")
        #expect(context["severity"] as? String == "critical")
        #expect(context["state"] as? String == "firing")
        #expect(body["logs"] as? [String] == ["ollama CPU at 97.5% (critical threshold 95%)"])
        let metrics = try #require(body["metrics"] as? [String: Any])
        #expect(metrics["cpu_usage"] as? Double == 15.2)
        #expect(metrics["memory_usage"] as? Double == 1245.6)
        #expect(try json(requests[1])["context"].flatMap { ($0 as? [String: Any])?["state"] as? String } == "resolved")
        // A report only once per interval of sample time.
        let next = sink.encode([SpoolBatch(sequence: 43, kind: .sample, batch: Self.batch(at: 10_000, []))])
        #expect(next.isEmpty)
        let later = sink.encode([SpoolBatch(sequence: 44, kind: .sample, batch: Self.batch(at: 69_000, []))])
        #expect(later.map(\.request.url) == ["http://127.0.0.1:5210/reports"])
    }
}
