import Logging
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

/// Discovery of AI services' containers by image name, against the real Docker engine
/// (`DockerTestEngine`: Debian's docker.io on a private socket). The images are the test busybox
/// image tagged with each rule's repository names, as a registry pull would name them.
@Suite("Discovery of containers by image, real Docker engine", .serialized)
struct ContainerDiscoveryTests {
    /// A test's containers and image tags, removed by `removeAll`.
    private final class Containers {
        let engine: DockerTestEngine
        let prefix = "rwd\(UInt32.random(in: 0...UInt32.max))-"
        private(set) var names: [String] = []
        private var tags: [String] = []

        init() throws { engine = try DockerTestEngine.shared() }

        /// The busybox image under `reference` (a repository with tag).
        func tag(_ reference: String) throws {
            try engine.docker("tag", DockerTestEngine.image, reference)
            tags.append(reference)
        }

        /// `docker run -d` of `image` running `script`; the container's full name.
        @discardableResult
        func run(
            _ name: String,
            image: String,
            _ options: [String] = ["--network", "none"],
            _ script: String = "sleep 100000"
        )
            throws -> String
        {
            let full = prefix + name
            names.append(full)
            try engine.docker(["run", "-d", "--name", full] + options + [image, "sh", "-c", script])
            return full
        }

        func removeAll() {
            if !names.isEmpty { _ = try? engine.docker(["rm", "-f"] + names) }
            if !tags.isEmpty { _ = try? engine.docker(["rmi"] + tags) }
            names = []
            tags = []
        }

        func pid(_ name: String) throws -> Int32 {
            let output = try engine.docker("inspect", "-f", "{{.State.Pid}}", name)
            return try #require(Int32(output.filter { !$0.isWhitespace }))
        }
    }

    private func composer(
        _ containers: Containers,
        components: [ComponentConfig] = [],
        intervalSeconds: Double = 30
    )
        -> TickComposer
    {
        var config = Config()
        config.dockerSocket = containers.engine.socket
        config.components = components
        config.discovery = DiscoveryConfig(enabled: true, intervalSeconds: intervalSeconds)
        config.alerts.forSamples = 1
        return TickComposer(config: config, agentID: "test")
    }

    /// One tick at `now`, the engine given 10 s.
    private func tick(
        _ composer: TickComposer,
        now: ContinuousClock.Instant = .now,
        clock: Int64? = nil
    ) async
        -> ResourceWatcher_V1_Batch
    {
        composer.composeBatch(
            intervalSeconds: 1,
            containerSamples: await composer.sampleContainers(timeout: .seconds(10), now: now),
            now: now,
            nowUnixMilliseconds: clock ?? RFC3339.nowUnixMilliseconds()
        )
    }

    @Test("image references name their repository: registry, tag, digest and library/ are left out")
    func repositoryOfImage() {
        let cases: [(String, String?)] = [
            ("qdrant/qdrant", "qdrant/qdrant"),
            ("qdrant/qdrant:v1.9.0", "qdrant/qdrant"),
            ("docker.io/qdrant/qdrant:latest", "qdrant/qdrant"),
            ("ghcr.io/open-webui/open-webui:main", "open-webui/open-webui"),
            ("localhost:5000/ollama/ollama:0.3", "ollama/ollama"),
            ("registry.local:5000/vllm/vllm-openai@sha256:" + String(repeating: "a", count: 64), "vllm/vllm-openai"),
            ("docker.io/library/redis:7", "redis"),
            ("Ollama/Ollama", "ollama/ollama"),
            ("sha256:" + String(repeating: "b", count: 64), nil),
            ("", nil),
        ]
        for (image, repository) in cases {
            #expect(DiscoveryRule.repository(of: image) == repository, "\(image)")
        }
        let qdrant = DiscoveryRules.all.first { $0.name == "qdrant" }!
        #expect(qdrant.matches(image: "qdrant/qdrant:v1.9.0"))
        #expect(!qdrant.matches(image: "qdrant/qdrant-web-ui"))
        #expect(!qdrant.matches(image: "myorg/qdrant"))
    }

    @Test("every rule's images are discovered as components named after the rule, flagged discovered, with figures")
    func everyImageIsDiscovered() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        // Every image of every rule, under a registry and tag as users pull them; a rule with two
        // images runs two containers: the second gets a suffix.
        var expected: [String: String] = [:]  // container -> rule
        let registries = ["", "docker.io/", "ghcr.io/", "quay.io/"]
        var count = 0
        for rule in DiscoveryRules.all {
            for image in rule.images {
                let reference = "\(registries[count % registries.count])\(image):rw-test-\(count)"
                try containers.tag(reference)
                let name = try containers.run("\(rule.name)-\(count)", image: reference)
                expected[name] = rule.name
                count += 1
            }
        }
        #expect(
            DiscoveryRules.all.allSatisfy { !$0.images.isEmpty || $0.name == "langchain" },
            "all but the stack's own"
        )
        #expect(count == DiscoveryRules.all.map(\.images.count).reduce(0, +))
        let composer = composer(containers)
        var batch = ResourceWatcher_V1_Batch()
        try await pollUntil("every discovered container has figures", timeout: .seconds(120)) {
            batch = await tick(composer)
            let discovered = batch.components.filter(\.discovered)
            return discovered.count >= count && discovered.allSatisfy { $0.status == .healthy && $0.memoryUsageKib > 0 }
        }
        let components = try #require(composer.containers).discoveredComponents()
        for (container, rule) in expected {
            let component = try #require(components.first { $0.containerName == container }, "\(container)")
            #expect(component.name == rule || component.name.hasPrefix(rule + "-"), "\(component.name) for \(rule)")
            let sample = try #require(batch.components.first { $0.name == component.name })
            #expect(sample.discovered && sample.clientID == "default")
            #expect(sample.processCount >= 1)
        }
        let names = components.filter { expected[$0.containerName] != nil }.map(\.name)
        #expect(Set(names).count == count, "one component per container: \(names.sorted())")
        for rule in DiscoveryRules.all where rule.images.count > 1 {
            let ruleNames = Set(names.filter { $0 == rule.name || $0.hasPrefix(rule.name + "-") })
            #expect(ruleNames == Set([rule.name, rule.name + "-2"]), "\(rule.name): \(ruleNames)")
        }
    }

    @Test("a container whose process also matches a process rule is one component: the container")
    func containerWinsOverItsProcess() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        try containers.tag("qdrant/qdrant:rw-test")
        // Host network: its listener on Qdrant's port is seen by process discovery too.
        let name = try containers.run(
            "qdrant",
            image: "qdrant/qdrant:rw-test",
            ["--network", "host"],
            "httpd -f -p 6333"
        )
        let pid = try containers.pid(name)
        let composer = composer(containers)
        var batch = ResourceWatcher_V1_Batch()
        try await pollUntil("the container is sampled", timeout: .seconds(60)) {
            batch = await tick(composer)
            return batch.components.contains { $0.discovered && $0.status == .healthy && $0.name.hasPrefix("qdrant") }
        }
        let container = try #require(composer.containers?.discoveredComponents().first { $0.containerName == name })
        #expect(container.name == "qdrant")
        #expect(!composer.sampler.discoveredComponents().contains { $0.pid == pid }, "the process is the container's")
        #expect(batch.components.filter { $0.name.hasPrefix("qdrant") }.map(\.name) == ["qdrant"])
    }

    @Test(
        "discovered containers share discovery.max_components with discovered processes; those beyond are counted once"
    )
    func discoveredContainersAreCapped() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        try containers.tag("qdrant/qdrant:rw-cap")
        for index in 0..<3 { try containers.run("cap\(index)", image: "qdrant/qdrant:rw-cap") }
        var config = Config()
        config.dockerSocket = containers.engine.socket
        config.discovery = DiscoveryConfig(enabled: true, intervalSeconds: 30)
        config.discovery.maxComponents = 2
        let limits = SourceLimits()
        let composer = TickComposer(
            config: config,
            agentID: "test",
            dockerEngine: DockerEngine(socketPath: config.dockerSocket),
            sourceLimits: limits
        )
        var batch = ResourceWatcher_V1_Batch()
        try await pollUntil("two discovered components", timeout: .seconds(60)) {
            batch = await tick(composer)
            return batch.components.count { $0.discovered } == 2
        }
        // Their logs are read like configured containers' (SamplerService hands these to the reader).
        #expect(composer.discoveredContainerLogSources().count == 2)
        // Later scans find the same third container again: it is counted once, not per scan.
        let later = await tick(composer, now: .now + .seconds(31))
        #expect(later.components.count { $0.discovered } == 2, "\(later.components.map { $0.name })")
        #expect(limits.count(component: "qdrant", reason: "discovered_components_over_limit") == 1)
    }

    @Test("a configured container is not discovered again")
    func configuredContainerWins() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        try containers.tag("milvusdb/milvus:rw-test")
        let name = try containers.run("vectors", image: "milvusdb/milvus:rw-test")
        let composer = composer(containers, components: [ComponentConfig(name: "vectors", containerName: name)])
        var batch = ResourceWatcher_V1_Batch()
        try await pollUntil("the configured container is sampled", timeout: .seconds(60)) {
            batch = await tick(composer)
            return batch.components.first { $0.name == "vectors" }?.status == .healthy
        }
        #expect(!batch.components.contains { $0.name.hasPrefix("milvus") })
        #expect(batch.components.first { $0.name == "vectors" }?.discovered == false)
    }

    @Test(
        "a stopped container is down, dropped after the grace period with its alerts resolved; a new one takes the name"
    )
    func stoppedContainersAreDropped() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        try containers.tag("chromadb/chroma:rw-test")
        let first = try containers.run("chroma-a", image: "chromadb/chroma:rw-test")
        // Discovery every second: three seconds of grace.
        let composer = composer(containers, intervalSeconds: 1)
        var now = ContinuousClock.now
        var clock: Int64 = 1_000_000
        func step(_ seconds: Double) async -> ResourceWatcher_V1_Batch {
            now += .milliseconds(Int64(seconds * 1000))
            clock += Int64(seconds * 1000)
            return await tick(composer, now: now, clock: clock)
        }
        try await pollUntil("the container is sampled", timeout: .seconds(60)) {
            await step(0.5).components.first { $0.name == "chroma" }?.status == .healthy
        }
        try containers.engine.docker("stop", "-t", "0", first)
        let down = await step(0.5)
        let sample = try #require(down.components.first { $0.name == "chroma" })
        #expect(sample.status == .down && sample.statusReason == "container \(first) is exited")
        #expect(down.activeAlerts.contains { $0.component == "chroma" && $0.alertType == .componentDown })
        #expect(await step(2).components.first { $0.name == "chroma" }?.status == .down, "within the grace period")
        let dropped = await step(1.5)
        #expect(!dropped.components.contains { $0.name == "chroma" })
        #expect(
            dropped.transitions.contains {
                $0.state == .resolved && $0.alert.component == "chroma" && $0.alert.alertType == .componentDown
            }
        )
        #expect(!dropped.activeAlerts.contains { $0.component == "chroma" })
        // A new container of the service (another name) is found at the next scan, as `chroma`.
        let second = try containers.run("chroma-b", image: "chromadb/chroma:rw-test")
        try await pollUntil("the new container is sampled", timeout: .seconds(60)) {
            await step(1.5).components.first { $0.name == "chroma" }?.status == .healthy
        }
        #expect(composer.containers?.discoveredComponents().map(\.containerName) == [second])
    }

    @Test("a container removed and replaced within the grace period keeps its component")
    func replacedContainerKeepsItsName() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        try containers.tag("semitechnologies/weaviate:rw-test")
        let first = try containers.run("weaviate-a", image: "semitechnologies/weaviate:rw-test")
        let composer = composer(containers, intervalSeconds: 1)
        var now = ContinuousClock.now
        func step(_ seconds: Double) async -> ResourceWatcher_V1_Batch {
            now += .milliseconds(Int64(seconds * 1000))
            return await tick(composer, now: now)
        }
        try await pollUntil("the container is sampled", timeout: .seconds(60)) {
            await step(0.5).components.first { $0.name == "weaviate" }?.status == .healthy
        }
        try containers.engine.docker("rm", "-f", first)
        #expect(await step(0.5).components.first { $0.name == "weaviate" }?.status == .down)
        let second = try containers.run("weaviate-b", image: "semitechnologies/weaviate:rw-test")
        try await pollUntil("the replacement is sampled as weaviate", timeout: .seconds(60)) {
            await step(1).components.first { $0.name == "weaviate" }?.status == .healthy
        }
        #expect(composer.containers?.discoveredComponents().map(\.containerName) == [second])
        #expect(!(await step(0.5)).components.contains { $0.name == "weaviate-2" })
    }

    @Test("a discovered Ollama container's /api/ps is read on the host port it publishes: its loaded models")
    func ollamaContainerUsage() async throws {
        let containers = try Containers()
        let network = containers.prefix + "net"
        // A network of its own: the engine runs without the default bridge; docker-proxy
        // publishes the port on the host.
        try containers.engine.docker("network", "create", network)
        defer {
            containers.removeAll()
            _ = try? containers.engine.docker("network", "rm", network)
        }
        try containers.tag("ollama/ollama:rw-test")
        let port = try ProcessHelpers.freeLoopbackPort()
        // Ollama's /api/ps document (fields as Ollama 0.6 writes them), served by busybox httpd
        // on Ollama's port inside the container.
        let document =
            #"{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":3825819519,"#
            + #""digest":"17177962e7130a9fe50f07d9058650327164635c12fc381fedc3c2a552886b30","#
            + #""details":{"format":"gguf","family":"llama","parameter_size":"3.2B","quantization_level":"Q4_K_M"},"#
            + #""expires_at":"2099-01-01T00:00:00Z","size_vram":2147483648,"context_length":4096}]}"#
        try containers.run(
            "ollama",
            image: "ollama/ollama:rw-test",
            ["--network", network, "-p", "127.0.0.1:\(port):11434"],
            "mkdir -p /www/api && printf '%s' '\(document)' > /www/api/ps && exec httpd -f -p 11434 -h /www"
        )
        let composer = composer(containers)
        try await pollUntil("the Ollama container is sampled", timeout: .seconds(60)) {
            await tick(composer).components.contains { $0.name == "ollama" && $0.discovered && $0.status == .healthy }
        }
        let sources = composer.discoveredUsageSources().filter { $0.component.hasPrefix("ollama") }
        #expect(
            sources == [
                ModelSources.DiscoveredSource(
                    component: "ollama",
                    clientID: "default",
                    ollamaPS: "http://127.0.0.1:\(port)/api/ps"
                )
            ]
        )
        var config = Config()
        config.discovery.enabled = true
        let modelSources = try #require(
            ModelSources(config: config, agentStartUnixSeconds: 0, logger: Logger(label: "test"))
        )
        var loaded: [ResourceWatcher_V1_LoadedModel] = []
        try await pollUntil("its /api/ps is read", timeout: .seconds(30)) {
            let reading = await modelSources.read(timeout: .seconds(5), nowUnixMilliseconds: 0, discovered: sources)
            loaded = reading.loadedModels["ollama"] ?? []
            return !loaded.isEmpty
        }
        #expect(loaded.map(\.name) == ["llama3.2:latest"])
        #expect(loaded.first?.sizeBytes == 3_825_819_519 && loaded.first?.sizeVramBytes == 2_147_483_648)
    }

    @Test("a discovered container holds the GPU memory of its processes (host PIDs, as NVML lists them; stub NVML)")
    func containerGPUMemory() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        try containers.tag("vllm/vllm-openai:rw-test")
        // Two processes: the main one and its child.
        let name = try containers.run(
            "vllm",
            image: "vllm/vllm-openai:rw-test",
            ["--network", "none"],
            "sleep 100001 & sleep 100002; :"
        )
        let main = try containers.pid(name)
        let stub = try NVMLStub()
        defer { stub.remove() }
        var config = Config()
        config.dockerSocket = containers.engine.socket
        config.discovery = DiscoveryConfig(enabled: true, intervalSeconds: 30)
        let composer = TickComposer(
            config: config,
            agentID: "test",
            gpus: GPUReader(nvmlLibraryPath: stub.libraryPath, drmRoot: "/nonexistent")
        )
        var tree: [Int32] = []
        try await pollUntil("the container and both its processes are seen", timeout: .seconds(60)) {
            let batch = await tick(composer)
            tree = composer.sampler.processTrees()["vllm"] ?? []
            return batch.components.contains { $0.name == "vllm" && $0.status == .healthy } && tree.count == 3
        }
        #expect(tree.first == main)
        let gib: UInt64 = 1 << 30
        let children = tree.filter { $0 != main }
        stub.write(
            script: """
                gpu 0 name="NVIDIA L4" uuid=GPU-c util=80 memutil=40 mem_total=\(24 * gib) mem_used=\(6 * gib) temp=55 power_mw=72000
                proc 0 compute \(children[0]) \(4 * gib)
                proc 0 compute \(children[1]) \(512 << 20)
                proc 0 compute 999999 \(gib)

                """
        )
        let batch = await tick(composer)
        let sample = try #require(batch.components.first { $0.name == "vllm" })
        let held = 4 * gib + (512 << 20)
        #expect(sample.gpuMemoryUsageKib == held / 1024, "its two processes' memory, not the stranger's")
        #expect(sample.gpuMemoryUsageCentipercent == UInt32((Double(held) / Double(24 * gib) * 10_000).rounded()))
    }

    @Test("discovery alone asks an engine that fails once per discovery interval, not every tick")
    func failedScanWaitsForTheInterval() async throws {
        var config = Config()
        config.dockerSocket = "/nonexistent/docker.sock"
        config.discovery = DiscoveryConfig(enabled: true, intervalSeconds: 30)
        let composer = TickComposer(config: config, agentID: "test")
        let containers = try #require(composer.containers)
        let start = ContinuousClock.now
        #expect(containers.discoveryDue(now: start))
        _ = await composer.sampleContainers(timeout: .seconds(5), now: start)
        #expect(!containers.discoveryDue(now: start + .seconds(1)), "the failed scan counts as this interval's")
        #expect(containers.discoveryDue(now: start + .seconds(30)))
    }

    @Test("discovery without a Docker engine: no container components, no source problem, one info line")
    func noEngineIsQuiet() async throws {
        var config = Config()
        config.dockerSocket = "/nonexistent/docker.sock"
        config.discovery = DiscoveryConfig(enabled: true, intervalSeconds: 1)
        let recorder = LogRecorder()
        let composer = TickComposer(config: config, agentID: "test", logger: recorder.logger)
        var now = ContinuousClock.now
        for _ in 0..<3 {
            now += .seconds(2)
            let batch = composer.composeBatch(
                intervalSeconds: 1,
                containerSamples: await composer.sampleContainers(timeout: .seconds(5), now: now),
                now: now
            )
            #expect(batch.sourceProblems.isEmpty, "\(batch.sourceProblems)")
            #expect(!batch.components.contains { $0.status == .unknown })
        }
        let lines = recorder.messages.withLock { $0 }.filter { $0.contains("Docker") || $0.contains("container") }
        #expect(lines == ["no containers discovered: no Docker engine answers"], "\(lines)")
    }
}
