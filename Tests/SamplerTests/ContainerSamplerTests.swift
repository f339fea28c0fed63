import Synchronization
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

/// Container components through the stand-in engine (Tests/Fixtures/docker_engine_server.py), for
/// what a real engine cannot be made to do: stall, or answer garbage. Everything else is tested
/// against a real engine (RealEngineContainerTests).
@Suite("Container components, stand-in engine", .serialized)
struct ContainerSamplerTests {
    private func config(socket: String) -> Config {
        var config = Config()
        config.dockerSocket = socket
        config.components = [
            ComponentConfig(name: "web-app", clientID: "acme", containerName: "web"),
            ComponentConfig(name: "batch-job", containerName: "stopped-job"),
            ComponentConfig(name: "gone", containerName: "no-such-container"),
        ]
        return config
    }

    @Test("a stuck engine is cut off by the timeout: the tick goes on and that component is unknown")
    func slowEngineIsCutOff() async throws {
        let engine = try StandInEngine(stalling: "web")
        defer { engine.stop() }
        let composer = TickComposer(config: config(socket: engine.socket), agentID: "test")
        let start = ContinuousClock.now
        let samples = await composer.sampleContainers(timeout: .milliseconds(500))
        #expect(ContinuousClock.now - start < .seconds(3), "the tick waited \(ContinuousClock.now - start)")
        #expect(samples["web-app"]?.status == .unknown)
        #expect(
            samples["web-app"]?.statusReason.contains("did not send this container's stats") == true,
            "\(samples["web-app"]?.statusReason ?? "")"
        )
        #expect(samples["batch-job"]?.status == .down)
        #expect(samples["gone"]?.status == .down)
        #expect(samples["gone"]?.statusReason == "no container named no-such-container")
        #expect(samples["batch-job"]?.statusReason == "container stopped-job is exited")
    }
}

extension ContainerSamplerTests {
    @Test(
        "an engine that answers nothing: every container component unknown with the reason, a source problem in the batch"
    )
    func stalledEngineIsASourceProblem() async throws {
        let engine = try StandInEngine(stalling: "ALL")
        defer { engine.stop() }
        let composer = TickComposer(config: config(socket: engine.socket), agentID: "test")
        let batch = composer.composeBatch(
            intervalSeconds: 1,
            containerSamples: await composer.sampleContainers(timeout: .milliseconds(500))
        )
        let reason = "no answer from the Docker engine at unix://\(engine.socket) within 0.5 s"
        for name in ["web-app", "batch-job", "gone"] {
            let sample = try #require(batch.components.first { $0.name == name })
            #expect(sample.status == .unknown)
            #expect(sample.statusReason == reason)
        }
        #expect(batch.sourceProblems.map(\.source) == ["docker"])
        #expect(batch.sourceProblems.first?.message == reason)
        #expect(batch.activeAlerts.isEmpty, "unknown is not down: no component_down alert")
    }
}

/// Tests/Fixtures/docker_engine_server.py on a unix socket in a fresh directory.
private final class StandInEngine {
    let socket: String
    private let process: ChildProcess
    private let directory = TemporaryDirectory()

    /// `stalling`: a container whose stats the engine takes 30 s to answer.
    init(stalling name: String? = nil) throws {
        socket = directory.path + "/docker.sock"
        process = try ChildProcess(
            "/usr/bin/env",
            // Its containers' main processes are its own: no container's cgroup, so figures come
            // from its stats endpoint (the fallback), which is what these tests stall.
            ["RW_STANDIN_OWN_PIDS=1", "python3", Fixtures.path("docker_engine_server.py"), socket]
                + (name.map { [$0] } ?? [])
        )
        #expect(try process.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])
    }

    func stop() {
        process.kill()
        process.wait()
        directory.remove()
    }
}
