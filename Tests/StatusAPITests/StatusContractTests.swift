import Foundation  // JSONSerialization
import HTTPTransport
import StatusAPI
import SwiftProtobuf
import Testing

/// Every `:5220` endpoint against the seed's API reference: field names and JSON types of its
/// example bodies (extra fields allowed, none missing), and DESIGN §3's error shape and statuses.
@Suite("Status API contract")
struct StatusContractTests {
    private let acme = TenantFixtures.acmeToken

    /// Fails the test for every `field` of `object` that is missing or not of its JSON type.
    private func expectFields(_ object: [String: Any], _ fields: [String: String], in context: String) {
        for (field, type) in fields.sorted(by: { $0.key < $1.key }) {
            #expect(jsonType(object[field]) == type, "\(context).\(field) should be a \(type)")
        }
    }

    @Test("GET /health gives anyone only the seed's status, version and timestamp")
    func healthForAnyone() async throws {
        try await StatusAPIHarness.withServer { api in
            for token in [nil, TenantFixtures.wrongToken, TenantFixtures.acmeToken] {
                let reply = try await api.get("/health", token: token)
                #expect(reply.status == 200)
                let body = try reply.object()
                #expect(
                    Set(body.keys) == ["status", "version", "timestamp"],
                    "token \(token ?? "none"): \(reply.text)"
                )
                #expect(body["status"] as? String == "healthy")
            }
        }
    }

    @Test("GET /health with an operator token has the seed's fields plus the spool and every sink")
    func health() async throws {
        try await StatusAPIHarness.withServer { api in
            let reply = try await api.get("/health", token: TenantFixtures.operatorToken)
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type") == "application/json")
            let body = try reply.object()
            expectFields(
                body,
                [
                    "status": "string", "version": "string", "timestamp": "string", "spool": "object",
                    "sinks": "array",
                ],
                in: "health"
            )
            #expect(body["status"] as? String == "healthy")
            #expect(body["version"] as? String == TenantFixtures.version)
            #expect(isRFC3339UTC(body["timestamp"] as? String), "timestamp \(body["timestamp"] ?? "none")")

            let spool = try #require(body["spool"] as? [String: Any])
            expectFields(
                spool,
                [
                    "bytes": "number", "max_bytes": "number", "used_percent": "number",
                    "segments": "number", "last_sequence": "number",
                ],
                in: "health.spool"
            )
            let statistics = api.spool.statistics()
            #expect(spool["last_sequence"] as? Int == Int(statistics.lastSequence))
            #expect(spool["max_bytes"] as? Int == api.state.config.spool.maxBytes)
            #expect((spool["bytes"] as? Int ?? 0) > 0)

            let sinks = try #require(body["sinks"] as? [[String: Any]])
            #expect(sinks.count == 1)
            let sink = try #require(sinks.first)
            expectFields(
                sink,
                [
                    "name": "string", "status": "string", "lag_records": "number", "lag_seconds": "number",
                    "sent_requests": "number", "failed_attempts": "number", "dropped_requests": "object",
                    "lost_records": "number",
                ],
                in: "health.sinks[0]"
            )
            #expect(sink["name"] as? String == StatusAPIHarness.sinkName)
            #expect(sink["status"] as? String == "ok")
            // Nothing delivers for this consumer: everything appended is its lag.
            #expect(sink["lag_records"] as? Int == Int(statistics.lastSequence))
            #expect(jsonType(sink["last_success"]) == "null")
        }
    }

    @Test("GET /metrics/components has the seed's shape and units")
    func components() async throws {
        try await StatusAPIHarness.withServer { api in
            let reply = try await api.get("/metrics/components?client_id=acme", token: acme)
            #expect(reply.status == 200)
            #expect(reply.header("Content-Type") == "application/json")
            let body = try reply.object()
            expectFields(body, ["metrics": "array", "timestamp": "string"], in: "components")
            #expect(body["timestamp"] as? String == "2025-04-05T19:45:00Z")
            let metrics = try #require(body["metrics"] as? [[String: Any]])
            #expect(metrics.map { $0["component"] as? String } == ["ollama", "langchain"])
            for (index, metric) in metrics.enumerated() {
                expectFields(
                    metric,
                    ["component": "string", "resources": "object", "status": "string"],
                    in: "metrics[\(index)]"
                )
                let resources = try #require(metric["resources"] as? [String: Any])
                expectFields(
                    resources,
                    [
                        "cpu_usage": "number", "memory_usage": "number", "memory_usage_percent": "number",
                        "disk_usage": "number", "network_in": "number", "network_out": "number",
                    ],
                    in: "metrics[\(index)].resources"
                )
                #expect(metric["status"] as? String == "healthy")
            }
            // The seed's example figures for langchain, from the exact integers of the batch.
            let langchain = try #require(metrics.last?["resources"] as? [String: Any])
            #expect(langchain["cpu_usage"] as? Double == 8.7)
            #expect(langchain["memory_usage"] as? Double == 512.3)
            #expect(langchain["memory_usage_percent"] as? Double == 14.6)
            #expect(langchain["disk_usage"] as? Double == 1024)
            #expect(langchain["network_in"] as? Double == 5.2)
            #expect(langchain["network_out"] as? Double == 3.1)
        }
    }

    @Test("GET /metrics/models has the seed's shape and figures")
    func models() async throws {
        try await StatusAPIHarness.withServer { api in
            let reply = try await api.get("/metrics/models?client_id=acme", token: acme)
            #expect(reply.status == 200)
            let body = try reply.object()
            expectFields(body, ["models": "array", "timestamp": "string"], in: "models")
            #expect(isRFC3339UTC(body["timestamp"] as? String))
            let models = try #require(body["models"] as? [[String: Any]])
            #expect(models.map { $0["name"] as? String } == ["llama2", "mistral"])
            for (index, model) in models.enumerated() {
                expectFields(
                    model,
                    [
                        "name": "string", "provider": "string", "requests_count": "number",
                        "tokens_input": "number", "tokens_output": "number", "avg_latency_ms": "number",
                        "last_used": "string",
                    ],
                    in: "models[\(index)]"
                )
            }
            let llama2 = models[0]
            #expect(llama2["provider"] as? String == "ollama")
            #expect(llama2["requests_count"] as? Int == 124)
            #expect(llama2["tokens_input"] as? Int == 15678)
            #expect(llama2["tokens_output"] as? Int == 32456)
            #expect(llama2["avg_latency_ms"] as? Double == 235.6)
            #expect(llama2["last_used"] as? String == "2025-04-05T19:40:00Z")
            #expect(models[1]["last_used"] as? String == "2025-04-05T19:42:00Z")
        }
    }

    @Test("GET /alerts has the seed's shape and figures")
    func alerts() async throws {
        try await StatusAPIHarness.withServer { api in
            let reply = try await api.get("/alerts?client_id=acme", token: acme)
            #expect(reply.status == 200)
            let alerts = try #require(try reply.object()["alerts"] as? [[String: Any]])
            #expect(alerts.count == 1)
            let alert = try #require(alerts.first)
            expectFields(
                alert,
                [
                    "component": "string", "alert_type": "string", "value": "number", "threshold": "number",
                    "timestamp": "string", "severity": "string",
                ],
                in: "alerts[0]"
            )
            #expect(alert["component"] as? String == "ollama")
            #expect(alert["alert_type"] as? String == "high_memory_usage")
            #expect(alert["value"] as? Double == 85.2)
            #expect(alert["threshold"] as? Double == 80)
            #expect(alert["timestamp"] as? String == "2025-04-05T19:43:00Z")
            #expect(alert["severity"] as? String == "warning")
        }
    }

    @Test("POST /v1/usage answers 202 {\"accepted\": n} for an event, an array and {\"events\": [...]}")
    func usageAccepted() async throws {
        try await StatusAPIHarness.withServer { api in
            let event =
                #"{"model": "phi3", "provider": "ollama", "tokens_input": 10, "tokens_output": 20, "latency_ms": 100}"#
            let bodies = [
                (event, 1), ("[\(event), \(event)]", 2), (#"{"events": [\#(event), \#(event), \#(event)]}"#, 3),
            ]
            for (body, count) in bodies {
                let reply = try await api.postUsage(body, token: acme)
                #expect(reply.status == 202, "\(body): \(reply.text)")
                let object = try reply.object()
                #expect(Set(object.keys) == ["accepted"])
                #expect(jsonType(object["accepted"]) == "number")
                #expect(object["accepted"] as? Int == count)
            }
            let phi3 = try #require(try await api.modelTotals("acme")["phi3"])
            #expect(phi3["requests_count"] as? Int == 6)
            #expect(phi3["tokens_input"] as? Int == 60)
            #expect(phi3["tokens_output"] as? Int == 120)
            #expect(phi3["avg_latency_ms"] as? Double == 100)
        }
    }

    @Test("an unknown route is 404 in the error shape")
    func unknownRoute() async throws {
        try await StatusAPIHarness.withServer { api in
            for path in ["/nope", "/metrics", "/health/extra", "/v1/usage/1"] {
                let reply = try await api.get(path, token: acme)
                #expect(reply.status == 404, "GET \(path)")
                let error = try reply.error()
                #expect(error.code == "not_found")
                #expect(error.message.contains(path))
            }
        }
    }

    @Test("a known path with the wrong method is 405 with Allow, in the error shape")
    func wrongMethod() async throws {
        try await StatusAPIHarness.withServer { api in
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.post, "/health", "GET"), (.delete, "/metrics/components", "GET"), (.put, "/metrics/models", "GET"),
                (.post, "/alerts", "GET"), (.get, "/v1/usage", "POST"),
            ]
            for (method, path, allowed) in cases {
                let reply = try await api.send(method, path, token: acme, body: method == .get ? [] : Array("{}".utf8))
                #expect(reply.status == 405, "\(method.rawValue) \(path): \(reply.text)")
                #expect(reply.header("Allow") == allowed, "\(method.rawValue) \(path)")
                let error = try reply.error()
                #expect(error.code == "method_not_allowed")
                #expect(error.message.contains(path) && error.message.contains(allowed))
            }
        }
    }

    @Test("a new tick's sample is served at once: components and alerts follow the spool's head")
    func newTickIsServed() async throws {
        try await StatusAPIHarness.withServer { api in
            let before = try await api.get("/metrics/components", token: acme)
            #expect(try before.object()["timestamp"] as? String == "2025-04-05T19:45:00Z")
            #expect((try await api.get("/alerts", token: acme).object()["alerts"] as? [Any])?.count == 1)

            var next = TenantFixtures.sampleBatch(at: TenantFixtures.batchTime + 15_000)
            next.components[0].cpuUsageCentipercent = 4200
            next.activeAlerts = []
            try api.spool.append(kind: .sample, payload: try next.serializedBytes())

            let after = try await api.get("/metrics/components", token: acme).object()
            #expect(after["timestamp"] as? String == "2025-04-05T19:45:15Z")
            let metrics = try #require(after["metrics"] as? [[String: Any]])
            #expect((metrics.first?["resources"] as? [String: Any])?["cpu_usage"] as? Double == 42)
            let alerts = try await api.get("/alerts", token: acme).object()["alerts"] as? [Any]
            #expect(alerts?.isEmpty == true)
        }
    }

    @Test("a body over 1 MiB is 413 in the error shape; exactly 1 MiB is read")
    func bodyTooLarge() async throws {
        try await StatusAPIHarness.withServer { api in
            let event = Array(#"{"model": "phi3", "tokens_input": 1, "tokens_output": 1}"#.utf8)
            let limit = StatusRoutes.maximumBodyBytes
            #expect(limit == 1 << 20)
            let exact = event + [UInt8](repeating: UInt8(ascii: " "), count: limit - event.count)
            let accepted = try await api.postUsage(exact, token: acme)
            #expect(accepted.status == 202, "\(accepted.text)")

            for size in [limit + 1, 4 * limit] {
                let body = event + [UInt8](repeating: UInt8(ascii: " "), count: size - event.count)
                let reply = try await api.postUsage(body, token: acme)
                #expect(reply.status == 413, "\(size) bytes")
                let error = try reply.error()
                #expect(error.code == "body_too_large")
                #expect(error.message.contains("\(limit) bytes"), "\(error.message)")
            }
            #expect(try await api.modelTotals("acme")["phi3"]?["requests_count"] as? Int == 1)
        }
    }
}
