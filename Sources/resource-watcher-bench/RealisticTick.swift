import WatcherProto

/// Generates the ticks of a plausible AI host: 50 components across three tenants whose figures
/// drift from tick to tick, 2 active alerts, and 20 log lines of the kind Ollama and LangChain
/// services write. Deterministic for a given seed, so runs compare.
struct RealisticTick {
    static let componentCount = 50
    static let valuesPerComponent = 6  // the seed's fields: cpu, memory, memory %, disk, network in/out
    static let logLines = 20

    private var random: SplitMix
    private var components: [ResourceWatcher_V1_ComponentSample]
    private var timestampMilliseconds: Int64 = 1_764_000_000_000
    private var tick = 0

    init(seed: UInt64 = 42) {
        random = SplitMix(seed: seed)
        components = Self.startingComponents(count: Self.componentCount)
    }

    /// `count` healthy components across three tenants, named after what an AI host runs.
    static func startingComponents(count: Int) -> [ResourceWatcher_V1_ComponentSample] {
        let kinds = [
            "ollama", "langchain-api", "langchain-worker", "qdrant", "embeddings", "rag-gateway", "vllm",
            "redis-cache", "postgres-vector", "whisper",
        ]
        let tenants = ["default", "acme-corp", "globex"]
        return (0..<count).map { index in
            var sample = ResourceWatcher_V1_ComponentSample()
            sample.name = "\(kinds[index % kinds.count])-\(index / kinds.count + 1)"
            sample.clientID = tenants[index % tenants.count]
            sample.status = .healthy
            sample.memoryUsageKib = 200_000 + UInt64(index) * 37_000
            sample.diskUsageKib = 1_000_000 + UInt64(index) * 250_000
            sample.processCount = UInt32(1 + index % 4)
            return sample
        }
    }

    /// Moves every component's figures one tick on.
    static func drift(_ components: inout [ResourceWatcher_V1_ComponentSample], random: inout SplitMix) {
        for index in components.indices {
            var sample = components[index]
            let load = Double(random.next() % 1000) / 1000
            sample.cpuUsageCentipercent = UInt32(load * load * 8_000)
            let drift = Int64(random.next() % 2001) - 1000
            sample.memoryUsageKib = UInt64(max(50_000, Int64(sample.memoryUsageKib) + drift))
            sample.memoryUsageCentipercent = UInt32(sample.memoryUsageKib * 10_000 / 24_000_000)
            if random.next() % 10 == 0 { sample.diskUsageKib += random.next() % 512 }
            sample.networkInBytesPerSecond = random.next() % 200_000
            sample.networkOutBytesPerSecond = random.next() % 80_000
            components[index] = sample
        }
    }

    /// The sample batch and the log batch of the next tick.
    mutating func next() -> (sample: ResourceWatcher_V1_Batch, logs: ResourceWatcher_V1_Batch) {
        tick += 1
        timestampMilliseconds += 15_000
        Self.drift(&components, random: &random)
        var batch = ResourceWatcher_V1_Batch()
        batch.schemaVersion = 1
        batch.agentID = "ai-host-01/default"
        batch.timestampUnixMs = timestampMilliseconds
        batch.intervalSeconds = 15
        batch.components = components
        batch.activeAlerts = [
            alert(component: components[0], type: .highMemoryUsage, value: 8520),
            alert(component: components[6], type: .highCpuUsage, value: 9140),
        ]

        var logs = ResourceWatcher_V1_Batch()
        logs.schemaVersion = 1
        logs.agentID = batch.agentID
        logs.timestampUnixMs = timestampMilliseconds
        let models = ["llama2", "mistral", "codellama:13b", "nomic-embed-text"]
        logs.logs = (0..<Self.logLines).map { line in
            var record = ResourceWatcher_V1_LogRecord()
            let component = components[Int(random.next() % UInt64(components.count))]
            record.timestampUnixNs =
                timestampMilliseconds * 1_000_000 + Int64(line) * 731_000_000 + Int64(random.next() % 1_000_000)
            record.clientID = component.clientID
            record.component = component.name
            record.source = "/var/log/ai/\(component.name).log"
            let model = models[Int(random.next() % UInt64(models.count))]
            switch random.next() % 5 {
            case 0:
                record.level = .warning
                record.message =
                    "slow request model=\(model) duration=\(1000 + random.next() % 9000)ms queue_depth=\(random.next() % 12)"
            case 1:
                record.level = .info
                record.message =
                    "[GIN] \(tick % 24):\(line % 60):\(random.next() % 60) | 200 | \(random.next() % 900)ms | 10.0.3.\(random.next() % 250) | POST \"/api/chat\""
            default:
                record.level = .info
                record.message =
                    "POST /api/generate model=\(model) prompt_tokens=\(random.next() % 2048) completion_tokens=\(random.next() % 1024) total_duration=\(random.next() % 5000)ms"
            }
            return record
        }
        return (batch, logs)
    }

    private func alert(
        component: ResourceWatcher_V1_ComponentSample,
        type: ResourceWatcher_V1_AlertType,
        value: Int64
    )
        -> ResourceWatcher_V1_Alert
    {
        var alert = ResourceWatcher_V1_Alert()
        alert.component = component.name
        alert.clientID = component.clientID
        alert.alertType = type
        alert.severity = .warning
        alert.valueCenti = value
        alert.thresholdCenti = 8000
        alert.sinceUnixMs = 1_764_000_000_000
        alert.message = "\(component.name) above threshold"
        return alert
    }
}

/// A small, fast, deterministic random number generator.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
