import Foundation  // JSONSerialization and file reading, as a client of the document would
import Logging
import NIOPosix
import Spool
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import StatusAPI

/// `docs/openapi.json` and the document the server serves at `/openapi.json` are one text, and it
/// describes the routes and bodies the server really has.
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    private static let repository = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
    private static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    private func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    private func schema(_ name: String) throws -> [String: Any] {
        let components = try #require(try document()["components"] as? [String: Any])
        return try #require((components["schemas"] as? [String: Any])?[name] as? [String: Any], "no schema \(name)")
    }

    private func properties(of schema: [String: Any]) throws -> Set<String> {
        Set(try #require(schema["properties"] as? [String: Any]).keys)
    }

    private func required(of schema: [String: Any]) -> Set<String> { Set(schema["required"] as? [String] ?? []) }

    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("docs/openapi.json is byte for byte the document the server serves")
    func fileMatchesServedDocument() throws {
        let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.repository + "/docs/openapi.json")))
        let served = Array(OpenAPIDocument.json.utf8)
        if file != served {
            let fileLines = String(decoding: file, as: UTF8.self).split(
                separator: "\n",
                omittingEmptySubsequences: false
            )
            let servedLines = String(decoding: served, as: UTF8.self).split(
                separator: "\n",
                omittingEmptySubsequences: false
            )
            let common = min(fileLines.count, servedLines.count)
            let line = (0..<common).first { fileLines[$0] != servedLines[$0] } ?? common
            Issue.record("docs/openapi.json and OpenAPIDocument.json differ first at line \(line + 1)")
        }
    }

    @Test("the document is OpenAPI 3.0.3 JSON and every $ref resolves")
    func documentParsesAndReferencesResolve() throws {
        let document = try document()
        #expect(document["openapi"] as? String == "3.0.3")
        var references: [String] = []
        func collect(_ value: Any) {
            if let object = value as? [String: Any] {
                if let reference = object["$ref"] as? String { references.append(reference) }
                object.values.forEach(collect)
            } else if let array = value as? [Any] {
                array.forEach(collect)
            }
        }
        collect(document)
        #expect(!references.isEmpty)
        for reference in references {
            #expect(reference.hasPrefix("#/"), "\(reference) is not local")
            var target: Any? = document
            for key in reference.dropFirst(2).split(separator: "/") {
                target = (target as? [String: Any])?[String(key)]
            }
            #expect(target is [String: Any], "\(reference) does not resolve")
        }
    }

    @Test("the documented paths and methods are exactly the server's routes")
    func pathsMatchRoutes() throws {
        let paths = try #require(try document()["paths"] as? [String: [String: Any]])
        let documented = Set(
            paths.flatMap { path, item in
                item.keys.filter(Self.methods.contains).map { "\($0.uppercased()) \(path)" }
            }
        )
        let routed = Set(StatusRoutes.routes.flatMap { path, methods in methods.map { "\($0.rawValue) \(path)" } })
        #expect(documented == routed)
    }

    @Test("only /health and /openapi.json are documented as open; every other operation needs the bearer token")
    func securityMatchesAuthentication() throws {
        let document = try document()
        #expect((document["security"] as? [[String: Any]])?.first?.keys.first == "bearerAuth")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for (path, item) in paths {
            for (method, operation) in item where Self.methods.contains(method) {
                let security = (operation as? [String: Any])?["security"] as? [Any]
                let open = ["/health", "/openapi.json"].contains(path)
                #expect((security?.isEmpty ?? false) == open, "\(method) \(path)")
            }
        }
    }

    @Test("the seed views write exactly the fields their schemas list")
    func seedViewSchemasMatchBodies() throws {
        var batch = ResourceWatcher_V1_Batch()
        batch.timestampUnixMs = 1_743_882_300_000
        var sample = ResourceWatcher_V1_ComponentSample()
        sample.name = "ollama"
        sample.clientID = "client1"
        sample.status = .unknown
        sample.statusReason = "cannot connect to the Docker engine at unix:///var/run/docker.sock"
        var loaded = ResourceWatcher_V1_LoadedModel()
        loaded.name = "llama3.2:latest"
        loaded.sizeBytes = 3_825_819_519
        loaded.sizeVramBytes = 3_825_819_519
        loaded.expiresUnixMs = 1_743_882_600_000
        sample.loadedModels = [loaded]
        var kept = ResourceWatcher_V1_CustomMetric()
        kept.name = "vllm:num_requests_running"
        kept.labels = ["model_name": "llama"]
        kept.value = 2
        sample.customMetrics = [kept]
        // Every field beyond the seed, so the schema's optional members are checked as well.
        sample.discovered = true
        sample.discoveredOwner = "ollama"
        sample.gpuMemoryUsageKib = 4_194_304
        sample.gpuMemoryUsageCentipercent = 2_500
        sample.loadAverage.oneMinute = 0.5
        var gpu = ResourceWatcher_V1_GpuSample()
        gpu.vendor = "nvidia"
        gpu.name = "Tesla T4"
        gpu.uuid = "GPU-1"
        gpu.utilizationPercent = 37
        gpu.memoryUsedBytes = 4 << 30
        gpu.memoryTotalBytes = 16 << 30
        gpu.temperatureCelsius = 61
        gpu.powerWatts = 70
        sample.gpus = [gpu]
        batch.components = [sample]
        var alert = ResourceWatcher_V1_Alert()
        alert.component = "ollama"
        alert.clientID = "client1"
        alert.alertType = .highCpuUsage
        alert.severity = .warning
        batch.activeAlerts = [alert]
        var usage = ResourceWatcher_V1_ModelUsage()
        usage.clientID = "client1"
        usage.name = "llama2"
        usage.requestsCount = 1
        usage.firstByteMicrosecondsSum = 12_000
        usage.firstByteCount = 1
        usage.inferenceMicrosecondsSum = 54_000
        usage.inferenceCount = 1

        let components = try object(SeedViews.components(in: batch, clientID: "client1"))
        #expect(Set(components.keys) == (try properties(of: schema("ComponentMetrics"))))
        let metric = try #require((components["metrics"] as? [[String: Any]])?.first)
        #expect(Set(metric.keys) == (try properties(of: schema("ComponentMetric"))))
        let resources = try #require(metric["resources"] as? [String: Any])
        #expect(Set(resources.keys) == (try properties(of: schema("Resources"))))
        let beyondSeed: Set<String> = [
            "gpu_memory_usage", "gpu_memory_usage_percent", "load_average_1m", "load_average_5m", "load_average_15m",
        ]
        #expect(Set(resources.keys).subtracting(beyondSeed) == required(of: try schema("Resources")))
        let gpuObject = try #require((metric["gpus"] as? [[String: Any]])?.first)
        let gpuSchema = try #require(
            (try schema("ComponentMetric")["properties"] as? [String: Any])
                .flatMap { ($0["gpus"] as? [String: Any])?["items"] as? [String: Any] }
        )
        #expect(Set(gpuObject.keys) == Set((gpuSchema["properties"] as? [String: Any] ?? [:]).keys))

        let models = try object(SeedViews.models([usage], clientID: "client1", nowUnixMilliseconds: 0))
        #expect(Set(models.keys) == (try properties(of: schema("ModelUsage"))))
        let model = try #require((models["models"] as? [[String: Any]])?.first)
        #expect(Set(model.keys) == (try properties(of: schema("ModelUsageEntry"))))
        let measuredOnly: Set<String> = ["avg_time_to_first_byte_ms", "avg_inference_ms"]
        #expect(Set(model.keys).subtracting(measuredOnly) == required(of: try schema("ModelUsageEntry")))

        let alerts = try object(SeedViews.alerts(in: batch, clientID: "client1"))
        #expect(Set(alerts.keys) == (try properties(of: schema("Alerts"))))
        let first = try #require((alerts["alerts"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == (try properties(of: schema("Alert"))))
        #expect(Set(first.keys) == required(of: try schema("Alert")))
    }

    @Test("/health writes every required field of its schema and nothing the schema does not list")
    func healthSchemaMatchesBody() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let logger = Logger.quiet("test")
        let config = try ConfigLoader.parse(
            json: Array(#"{"spool": {"dir": "\#(directory.path)"}}"#.utf8),
            source: "test"
        )
        let spool = try Spool(directory: directory.path, consumers: ["prometheus"], logger: logger)
        defer { spool.close() }
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        let state = StatusState(
            config: config,
            spool: spool,
            sinks: [SinkMetrics(sink: "prometheus", itemName: "samples")],
            usage: UsageLedger(),
            ticks: TickStatistics(),
            version: "0.1.0",
            agentID: "host/default",
            ioThreadPool: threadPool
        )
        let health = try object(HealthReport.body(state: state))
        let schema = try schema("Health")
        #expect(Set(health.keys).isSubset(of: try properties(of: schema)))
        #expect(required(of: schema).isSubset(of: Set(health.keys)))
        let nested = try #require(schema["properties"] as? [String: [String: Any]])
        for name in ["components", "sampler", "spool"] {
            let body = try #require(health[name] as? [String: Any], "\(name)")
            let documented = try #require(nested[name])
            #expect(Set(body.keys).isSubset(of: try properties(of: documented)), "\(name)")
            #expect(required(of: documented).isSubset(of: Set(body.keys)), "\(name)")
        }
        let sink = try #require((health["sinks"] as? [[String: Any]])?.first)
        let sinkSchema = try self.schema("SinkHealth")
        #expect(Set(sink.keys).isSubset(of: try properties(of: sinkSchema)))
        #expect(required(of: sinkSchema).isSubset(of: Set(sink.keys)))
        #expect(sink["sent_samples"] != nil)
    }

    /// Whether `text` satisfies a documented string schema: its length bounds (code points, as
    /// JSON Schema counts) and its pattern. The document's patterns are anchored at both ends, and
    /// in ECMA-262, JSON Schema's dialect, `$` is the end of the input: the match must be all of
    /// `text` (ICU, like PCRE, would also let `$` match before a final newline).
    private func satisfies(_ text: String, _ schema: [String: Any]) throws -> Bool {
        let length = text.unicodeScalars.count
        if let minimum = schema["minLength"] as? Int, length < minimum { return false }
        if let maximum = schema["maxLength"] as? Int, length > maximum { return false }
        guard let pattern = schema["pattern"] as? String else { return true }
        #expect(pattern.hasPrefix("^") && pattern.hasSuffix("$"), "\(pattern) is not anchored")
        let whole = NSRange(text.startIndex..., in: text)
        return try NSRegularExpression(pattern: pattern).firstMatch(in: text, range: whole)?.range == whole
    }

    @Test("the documented limits of POST /v1/usage are the server's: names, tokens, latency, events per batch")
    func usageLimitsMatchServer() throws {
        let event = try schema("UsageEvent")
        let fields = try #require(event["properties"] as? [String: [String: Any]])
        #expect(event["additionalProperties"] as? Bool == false)
        #expect(Set(fields.keys) == UsageEvents.fields)
        #expect(required(of: event) == ["model", "tokens_input", "tokens_output"])
        for name in ["model", "provider"] {
            #expect(fields[name]?["minLength"] as? Int == 1, "\(name)")
            #expect(fields[name]?["maxLength"] as? Int == UsageEvents.maximumNameCharacters, "\(name)")
        }
        for name in ["tokens_input", "tokens_output"] {
            #expect(fields[name]?["type"] as? String == "integer", "\(name)")
            #expect(fields[name]?["minimum"] as? Int == 0, "\(name)")
            #expect(fields[name]?["maximum"] as? Int == UsageEvents.maximumTokensPerEvent, "\(name)")
        }
        #expect(fields["latency_ms"]?["maximum"] as? Double == UsageEvents.latencyLimitMilliseconds)
        #expect(fields["latency_ms"]?["exclusiveMaximum"] as? Bool == true)
        let forms = try #require(try schema("UsageEvents")["oneOf"] as? [[String: Any]])
        let arrays = [forms[1], (forms[2]["properties"] as? [String: [String: Any]])?["events"] ?? [:]]
        for array in arrays {
            #expect(array["minItems"] as? Int == 1)
            #expect(array["maxItems"] as? Int == UsageEvents.maximumEvents)
        }
    }

    @Test("a client_id the document allows, in a query or an event, is exactly a tenant name the config allows")
    func clientIDRuleMatchesServer() throws {
        let components = try #require(try document()["components"] as? [String: Any])
        let parameter = try #require((components["parameters"] as? [String: Any])?["ClientID"] as? [String: Any])
        let query = try #require(parameter["schema"] as? [String: Any])
        let inEvent = try #require((try schema("UsageEvent")["properties"] as? [String: [String: Any]])?["client_id"])
        let samples = [
            "a", "client1", "Acme_2.prod-eu", "9", String(repeating: "x", count: 128),
            String(repeating: "x", count: 129),
            "", "-acme", "_acme", ".acme", "acme corp", "acme\n", "acmé", "ｆｕｌｌ", "a/b", "a:b", "a\u{0}",
        ]
        for sample in samples {
            #expect(try satisfies(sample, query) == isIdentifier(sample), "\(sample.debugDescription) in the query")
            #expect(try satisfies(sample, inEvent) == isIdentifier(sample), "\(sample.debugDescription) in an event")
        }
    }

    @Test("a model or provider name the document allows is exactly one the server takes")
    func nameRuleMatchesServer() throws {
        let fields = try #require(try schema("UsageEvent")["properties"] as? [String: [String: Any]])
        let longest = String(repeating: "🦙", count: UsageEvents.maximumNameCharacters)
        let samples = [
            "llama2", "hf.co/org/model:Q4_K_M", "~", "\u{80}", "\u{2028}", "é", longest, longest + "a", "",
            "a\u{0}", "a\u{1F}", "a\u{7F}", "a\nb", "a\tb", "a\rb",
        ]
        for name in ["model", "provider"] {
            let documented = try #require(fields[name])
            for sample in samples {
                var body = ["model": "m", "tokens_input": 1, "tokens_output": 1] as [String: Any]
                body[name] = sample
                let accepted: Bool
                do {
                    _ = try UsageEvents.parse(
                        Array(try JSONSerialization.data(withJSONObject: body)),
                        principal: .open,
                        defaultClientID: "default",
                        knownTenants: ["default"],
                        nowUnixMilliseconds: 0
                    )
                    accepted = true
                } catch {
                    accepted = false
                }
                #expect(try satisfies(sample, documented) == accepted, "\(name) \(sample.debugDescription)")
            }
        }
    }
}
