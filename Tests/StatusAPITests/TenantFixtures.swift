import StatusAPI
import WatcherModel
import WatcherProto

/// Two tenants' components, alerts and model usage in one sample batch, with the seed's example
/// figures for "acme", and the tokens that may read them. Every name is unique to its tenant, so
/// a body that mentions one of the other tenant's names has leaked its data.
enum TenantFixtures {
    static let version = "9.9.9-test"
    static let acmeToken = "acme-token-8c1f0e"
    static let globexToken = "globex-token-51d7a2"
    static let operatorToken = "operator-token-e93b44"
    /// A `metrics_tokens` entry: may scrape `:5221/metrics` and nothing else.
    static let metricsToken = "metrics-token-0d6e21"
    static let wrongToken = "nobody-configured-this-token"
    static let unknownClientID = "initech"

    /// The batch's time, 2025-04-05T19:45:00Z.
    static let batchTime: Int64 = 1_743_882_300_000

    /// Names that only the tenant's own bodies may contain.
    static let names: [String: Set<String>] = [
        "acme": ["ollama", "langchain", "llama2", "mistral", "acme"],
        "globex": ["vllm", "chroma", "falcon", "globex"],
    ]

    static func config(
        spoolDirectory: String,
        port: Int,
        metricsPort: Int,
        listenAddress: String = "127.0.0.1"
    ) -> Config {
        Config(
            clientID: "acme",
            port: port,
            metricsPort: metricsPort,
            listenAddress: listenAddress,
            spool: SpoolConfig(directory: spoolDirectory),
            auth: AuthConfig(
                tokens: [
                    .init(clientID: "acme", sha256: TokenAuthenticator.sha256Hex(acmeToken)),
                    .init(clientID: "globex", sha256: TokenAuthenticator.sha256Hex(globexToken)),
                ],
                operatorTokens: [.init(sha256: TokenAuthenticator.sha256Hex(operatorToken))],
                metricsTokens: [.init(sha256: TokenAuthenticator.sha256Hex(metricsToken))]
            ),
            components: [
                ComponentConfig(name: "ollama", clientID: "acme", containerName: "ollama"),
                ComponentConfig(name: "langchain", clientID: "acme", processName: "langchain"),
                ComponentConfig(name: "vllm", clientID: "globex", containerName: "vllm"),
                ComponentConfig(name: "chroma", clientID: "globex", containerName: "chroma"),
            ]
        )
    }

    /// One tick's head: acme's two components as in the seed, globex's two (one down), an alert
    /// for each tenant, and usage totals for each (acme's are the seed's llama2 and mistral).
    static func sampleBatch(at time: Int64 = batchTime) -> ResourceWatcher_V1_Batch {
        var batch = ResourceWatcher_V1_Batch()
        batch.schemaVersion = 1
        batch.agentID = "test-host/acme"
        batch.timestampUnixMs = time
        batch.intervalSeconds = 15
        batch.components = [
            component(
                "ollama",
                "acme",
                cpu: 1520,
                memoryKib: 1_275_494,
                memoryPercent: 3580,
                diskKib: 10240 * 1024,
                inBytes: 12800,
                outBytes: 8499
            ),
            component(
                "langchain",
                "acme",
                cpu: 870,
                memoryKib: 524_595,
                memoryPercent: 1460,
                diskKib: 1024 * 1024,
                inBytes: 5325,
                outBytes: 3174
            ),
            component(
                "vllm",
                "globex",
                cpu: 9150,
                memoryKib: 8_388_608,
                memoryPercent: 6250,
                diskKib: 40960 * 1024,
                inBytes: 2048,
                outBytes: 1024
            ),
            component("chroma", "globex", status: .down),
        ]
        batch.activeAlerts = [
            alert("ollama", "acme", .highMemoryUsage, .warning, value: 8520, threshold: 8000, since: 1_743_882_180_000),
            alert("vllm", "globex", .highCpuUsage, .critical, value: 9150, threshold: 9000, since: 1_743_882_240_000),
        ]
        batch.models = [
            model(
                "llama2",
                "ollama",
                "acme",
                requests: 124,
                input: 15678,
                output: 32456,
                averageMs: 235.6,
                lastUsed: 1_743_882_000_000
            ),
            model(
                "mistral",
                "ollama",
                "acme",
                requests: 56,
                input: 7890,
                output: 12345,
                averageMs: 185.2,
                lastUsed: 1_743_882_120_000
            ),
            model(
                "falcon",
                "vllm",
                "globex",
                requests: 10,
                input: 1000,
                output: 2000,
                averageMs: 50,
                lastUsed: 1_743_882_060_000
            ),
        ]
        return batch
    }

    static func component(
        _ name: String,
        _ clientID: String,
        status: ResourceWatcher_V1_ComponentStatus = .healthy,
        cpu: UInt32 = 0,
        memoryKib: UInt64 = 0,
        memoryPercent: UInt32 = 0,
        diskKib: UInt64 = 0,
        inBytes: UInt64 = 0,
        outBytes: UInt64 = 0
    ) -> ResourceWatcher_V1_ComponentSample {
        var sample = ResourceWatcher_V1_ComponentSample()
        sample.name = name
        sample.clientID = clientID
        sample.status = status
        sample.cpuUsageCentipercent = cpu
        sample.memoryUsageKib = memoryKib
        sample.memoryUsageCentipercent = memoryPercent
        sample.diskUsageKib = diskKib
        sample.networkInBytesPerSecond = inBytes
        sample.networkOutBytesPerSecond = outBytes
        return sample
    }

    static func alert(
        _ component: String,
        _ clientID: String,
        _ type: ResourceWatcher_V1_AlertType,
        _ severity: ResourceWatcher_V1_Severity,
        value: Int64,
        threshold: Int64,
        since: Int64
    ) -> ResourceWatcher_V1_Alert {
        var alert = ResourceWatcher_V1_Alert()
        alert.component = component
        alert.clientID = clientID
        alert.alertType = type
        alert.severity = severity
        alert.valueCenti = value
        alert.thresholdCenti = threshold
        alert.sinceUnixMs = since
        alert.message = "\(component) is above its threshold"
        return alert
    }

    static func model(
        _ name: String,
        _ provider: String,
        _ clientID: String,
        requests: UInt64,
        input: UInt64,
        output: UInt64,
        averageMs: Double,
        lastUsed: Int64
    ) -> ResourceWatcher_V1_ModelUsage {
        var usage = ResourceWatcher_V1_ModelUsage()
        usage.name = name
        usage.provider = provider
        usage.clientID = clientID
        usage.requestsCount = requests
        usage.tokensInput = input
        usage.tokensOutput = output
        usage.latencyMicrosecondsSum = UInt64((averageMs * 1000 * Double(requests)).rounded())
        usage.latencyCount = requests
        usage.lastUsedUnixMs = lastUsed
        return usage
    }
}
