import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// Discovery of well-known AI services among real processes: renamed executables and
/// listeners on the well-known ports. Other tests may run processes at the same time, so every
/// check looks for the test's own PID among what was discovered, never at names alone.
@Suite("Discovery of AI services", .serialized)
struct DiscoveryTests {
    private static let everyRule = DiscoveryConfig(enabled: true, intervalSeconds: 30)

    /// A copy of `/bin/sleep` named `executable`, started: its kernel command name is that name.
    private func renamedSleeper(_ executable: String, in directory: TemporaryDirectory) throws -> ChildProcess {
        let path = directory.path + "/" + executable
        if access(path, X_OK) != 0 {
            _ = try ChildProcess("/bin/cp", ["/bin/sleep", path]).finish()
        }
        return try ChildProcess(path, ["600"])
    }

    private func listener(on port: Int) throws -> ChildProcess {
        let process = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import socket, sys, time\n"
                    + "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                    + "s.bind(('127.0.0.1', \(port))); s.listen(); print('listening', flush=True); time.sleep(600)",
                "discovery-listener-\(port)",
            ]
        )
        #expect(try process.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["listening"])
        return process
    }

    private func stop(_ process: ChildProcess) {
        process.killGroup()
        process.wait()
    }

    @Test("every rule's executables are discovered, each as a component named after its rule")
    func everyExecutableIsDiscovered() throws {
        let directory = TemporaryDirectory()
        for rule in DiscoveryRules.all {
            for executable in rule.executables {
                let process = try renamedSleeper(executable, in: directory)
                defer { stop(process) }
                let sampler = ProcessComponentSampler(components: [], discovery: Self.everyRule)
                let samples = sampler.sample()
                let found = sampler.discoveredComponents().filter { $0.pid == process.pid }
                #expect(found.map(\.rule.name) == [rule.name], "\(executable): \(found)")
                if let component = found.first {
                    #expect(component.name == rule.name || component.name.hasPrefix(rule.name + "-"))
                    let sample = samples.first { $0.name == component.name }
                    #expect(
                        sample?.discovered == true && sample?.status == .healthy,
                        "\(executable): \(String(describing: sample))"
                    )
                    #expect(sample?.processCount == 1)
                }
            }
        }
    }

    @Test("services are discovered by the ports only they listen on: Ollama, Qdrant, Milvus, LangChain")
    func wellKnownPortsAreDiscovered() throws {
        for rule in DiscoveryRules.all {
            for port in rule.ports {
                let process = try listener(on: port)
                defer { stop(process) }
                let sampler = ProcessComponentSampler(components: [], discovery: Self.everyRule)
                _ = sampler.sample()
                let found = sampler.discoveredComponents().filter { $0.pid == process.pid }
                #expect(found.map(\.rule.name) == [rule.name], "port \(port): \(found)")
                #expect(found.first?.port == port)
            }
        }
    }

    @Test("a Python module named on the command line is discovered (vLLM, Open WebUI, Chroma)")
    func commandLinesAreDiscovered() throws {
        for rule in DiscoveryRules.all {
            for piece in rule.commandLineContains {
                let process = try ChildProcess(
                    "/usr/bin/env",
                    ["python3", "-c", "import time; print('up', flush=True); time.sleep(600)", "-m", piece]
                )
                defer { stop(process) }
                #expect(try process.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["up"])
                let sampler = ProcessComponentSampler(components: [], discovery: Self.everyRule)
                _ = sampler.sample()
                let found = sampler.discoveredComponents().filter { $0.pid == process.pid }
                #expect(found.map(\.rule.name) == [rule.name], "\(piece): \(found)")
            }
        }
    }

    @Test("a service's children of the same kind are part of it, and a second instance gets a suffix")
    func childrenAndSecondInstances() async throws {
        let directory = TemporaryDirectory()
        let shell = directory.path + "/qdrant"
        _ = try ChildProcess("/bin/cp", ["/bin/sh", shell]).finish()
        // The outer "qdrant" starts an inner "qdrant" that starts sleep: one service of three processes.
        let parent = try ChildProcess(shell, ["-c", "\(shell) -c 'sleep 600; :'; :"])
        defer { stop(parent) }
        // A sleep named qdrant (its own directory: `directory`'s qdrant is the shell).
        let otherDirectory = TemporaryDirectory()
        let other = try renamedSleeper("qdrant", in: otherDirectory)
        defer { stop(other) }
        let sampler = ProcessComponentSampler(components: [], discovery: Self.everyRule)
        let ours: Set<Int32> = [parent.pid, other.pid]
        var samples: [ResourceWatcher_V1_ComponentSample] = []
        try await pollUntil("the inner shell and its sleep have started", timeout: .seconds(10)) {
            samples = sampler.sample()
            let parentComponent = sampler.discoveredComponents().first { $0.pid == parent.pid }
            return samples.first { $0.name == parentComponent?.name }?.processCount == 3
        }
        let found = sampler.discoveredComponents().filter { ours.contains($0.pid) || $0.rule.name == "qdrant" }
        #expect(found.filter { ours.contains($0.pid) }.count == 2, "\(found)")
        #expect(!found.contains { !ours.contains($0.pid) && $0.rule.name == "qdrant" && $0.pid > parent.pid })
        let names = found.filter { ours.contains($0.pid) }.map(\.name)
        #expect(Set(names).count == 2 && names.allSatisfy { $0 == "qdrant" || $0.hasPrefix("qdrant-") }, "\(names)")
    }

    @Test("a configured component wins over discovery for the same process")
    func configuredComponentWins() throws {
        let directory = TemporaryDirectory()
        let marker = "milvus-configured-\(UInt32.random(in: 0...UInt32.max))"
        let path = directory.path + "/milvus"
        _ = try ChildProcess("/bin/cp", ["/bin/sh", path]).finish()
        let process = try ChildProcess(path, ["-c", "sleep 600; :", marker])
        defer { stop(process) }
        let sampler = ProcessComponentSampler(
            components: [ComponentConfig(name: "vector-db", cmdline: " \(marker)$")],
            discovery: Self.everyRule
        )
        // The first tick has no configured trees yet: discovery may take the process, and the
        // same tick gives it back; from then on discovery leaves it alone.
        for _ in 0..<3 {
            let samples = sampler.sample()
            #expect(samples.first { $0.name == "vector-db" }?.status == .healthy)
            #expect(!sampler.discoveredComponents().contains { $0.pid == process.pid })
        }
    }

    @Test(
        "a discovered service that exits is down, then dropped after the grace period; one that returns takes its name back"
    )
    func goneServicesAreDropped() throws {
        let directory = TemporaryDirectory()
        var config = Config()
        config.discovery = DiscoveryConfig(enabled: true, intervalSeconds: 1)
        config.alerts.forSamples = 1
        let composer = TickComposer(config: config, agentID: "test")
        var now = ContinuousClock.now
        var clock: Int64 = 1_000_000
        func tick() -> ResourceWatcher_V1_Batch {
            now += .milliseconds(500)
            clock += 500
            return composer.composeBatch(intervalSeconds: 0.5, now: now, nowUnixMilliseconds: clock)
        }
        var process = try renamedSleeper("weaviate", in: directory)
        _ = tick()
        let name = try #require(composer.sampler.discoveredComponents().first { $0.pid == process.pid }?.name)
        #expect(tick().components.first { $0.name == name }?.status == .healthy)
        stop(process)
        let down = tick()
        #expect(down.components.first { $0.name == name }?.status == .down)
        #expect(down.activeAlerts.contains { $0.component == name && $0.alertType == .componentDown })
        // Three discovery intervals of grace (3 s): still listed, down, before they pass.
        var batch = down
        for _ in 0..<4 { batch = tick() }
        #expect(batch.components.first { $0.name == name }?.status == .down, "dropped before the grace period")
        var dropped: ResourceWatcher_V1_Batch?
        for _ in 0..<6 {
            batch = tick()
            if !batch.components.contains(where: { $0.name == name }) {
                dropped = batch
                break
            }
        }
        let gone = try #require(dropped, "still listed after the grace period")
        #expect(
            gone.transitions.contains {
                $0.state == .resolved && $0.alert.component == name && $0.alert.alertType == .componentDown
            },
            "its component_down alert resolves when it is dropped"
        )
        #expect(!gone.activeAlerts.contains { $0.component == name })
        #expect(!tick().components.contains { $0.name == name }, "not reported down once dropped")

        // Back within the grace period, a service takes its component (and name) back.
        process = try renamedSleeper("weaviate", in: directory)
        defer { stop(process) }
        for _ in 0..<3 { _ = tick() }
        let back = try #require(composer.sampler.discoveredComponents().first { $0.pid == process.pid })
        stop(process)
        for _ in 0..<2 { _ = tick() }
        let replacement = try renamedSleeper("weaviate", in: directory)
        defer { stop(replacement) }
        for _ in 0..<3 { _ = tick() }
        let rebound = try #require(composer.sampler.discoveredComponents().first { $0.pid == replacement.pid })
        #expect(rebound.name == back.name, "a service back within the grace period keeps its name")
    }

    @Test("discovery and the host are off unless the config asks; the default config file asks for both")
    func discoveryDefaults() throws {
        let listed = try ConfigLoader.parse(
            json: Array(#"{"components": [{"name": "a", "process_name": "a"}]}"#.utf8),
            source: "test"
        )
        #expect(!listed.discovery.enabled && !listed.host)
        let asked = try ConfigLoader.parse(
            json: Array(
                #"{"host": true, "discovery": {"enabled": true, "interval_seconds": 5}, "components": [{"name": "a", "process_name": "a"}]}"#
                    .utf8
            ),
            source: "test"
        )
        #expect(asked.discovery == DiscoveryConfig(enabled: true, intervalSeconds: 5) && asked.host)
        let shipped = try ConfigLoader.load(
            path: Fixtures.path("../../config/resource-watcher.json"),
            environment: [:],
            overrides: ConfigOverrides()
        )
        #expect(shipped.host && shipped.discovery.enabled)
    }

    @Test("a component named host while host is on is a config error naming its path")
    func hostNameIsReserved() throws {
        let text =
            #"{"host": true, "components": [{"name": "host", "process_name": "x"}], "alerts": {"gpu_memory_threshold_percent": 101}}"#
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(json: Array(text.utf8), source: "test") }
        do {
            _ = try ConfigLoader.parse(json: Array(text.utf8), source: "test")
        } catch {
            let message = "\(error)"
            #expect(message.contains("$.components[0].name") && message.contains("host is true"), "\(message)")
            #expect(message.contains("$.alerts.gpu_memory_threshold_percent"), "\(message)")
        }
        let off = #"{"components": [{"name": "host", "process_name": "x"}]}"#
        #expect(try ConfigLoader.parse(json: Array(off.utf8), source: "test").components.map(\.name) == ["host"])
    }
}
