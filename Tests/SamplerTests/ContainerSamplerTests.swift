import Synchronization
import Testing
@testable import Sampler
import TestSupport
import WatcherModel
import WatcherProto

/// Container components through a local stand-in of the Docker Engine API on a unix socket
/// (Tests/Fixtures/docker_engine_server.py: no Docker engine runs here).
@Suite("Container components", .serialized)
struct ContainerSamplerTests {
    private func config() -> Config {
        var config = Config()
        config.components = [
            ComponentConfig(name: "web-app", clientID: "acme", containerName: "web"),
            ComponentConfig(name: "batch-job", containerName: "stopped-job"),
            ComponentConfig(name: "gone", containerName: "no-such-container"),
        ]
        return config
    }

    @Test("running containers get docker-stats figures in DESIGN units; stopped and missing ones are down")
    func figuresAndStatus() async throws {
        let engine = try StandInEngine()
        defer { engine.stop() }
        let composer = TickComposer(config: config(), agentID: "test", dockerSocket: engine.socket)
        let first = composer.composeBatch(intervalSeconds: 1, containerSamples: await composer.sampleContainers(timeout: .seconds(10)))
        let byName = Dictionary(uniqueKeysWithValues: first.components.map { ($0.name, $0) })
        let web = try #require(byName["web-app"])
        #expect(web.status == .healthy)
        #expect(web.clientID == "acme")
        #expect(web.memoryUsageKib == 80 * 1024)  // usage 100 MiB minus inactive_file 20 MiB
        #expect(web.memoryUsageCentipercent == 1563)  // 80 MiB of a 512 MiB limit = 15.625 %
        #expect(web.cpuUsageCentipercent == 0, "no CPU figure before a second sample")
        #expect(byName["batch-job"]?.status == .down)
        #expect(byName["gone"]?.status == .down)

        let second = composer.composeBatch(intervalSeconds: 1, containerSamples: await composer.sampleContainers(timeout: .seconds(10)))
        let webAgain = try #require(second.components.first { $0.name == "web-app" })
        // 50 % of one core by the docker-stats formula, of a 1.5-core limit (DESIGN §3).
        #expect(webAgain.cpuUsageCentipercent == 3333)
        #expect(webAgain.memoryUsageKib == 90 * 1024)
        #expect(webAgain.networkInBytesPerSecond > 0 && webAgain.networkOutBytesPerSecond > 0)
    }

    @Test("a container's disk usage is its writable layer plus its volumes, not its bind mounts")
    func containerDiskUsage() async throws {
        let engine = try StandInEngine()
        defer { engine.stop() }
        let composer = TickComposer(config: config(), agentID: "test", dockerSocket: engine.socket)
        let walked = WalkLog()
        await composer.refreshContainerDiskUsage { paths in
            walked.record(paths)
            return 1 << 20  // what the (fake) walk of the volume directories found
        }
        #expect(walked.paths == [["/var/lib/docker/volumes/web-data/_data"]])
        let batch = composer.composeBatch(intervalSeconds: 1, containerSamples: await composer.sampleContainers(timeout: .seconds(10)))
        let web = try #require(batch.components.first { $0.name == "web-app" })
        #expect(web.diskUsageKib == (12_345_678 + (1 << 20)) / 1024)  // SizeRw + volume
    }

    @Test("a stuck engine is cut off by the timeout: the tick goes on and that component is unknown")
    func slowEngineIsCutOff() async throws {
        let engine = try StandInEngine(stalling: "web")
        defer { engine.stop() }
        let composer = TickComposer(config: config(), agentID: "test", dockerSocket: engine.socket)
        let start = ContinuousClock.now
        let samples = await composer.sampleContainers(timeout: .milliseconds(500))
        #expect(ContinuousClock.now - start < .seconds(3), "the tick waited \(ContinuousClock.now - start)")
        #expect(samples["web-app"]?.status == .unknown)
        #expect(samples["batch-job"]?.status == .down)
        #expect(samples["gone"]?.status == .down)
    }
}

/// Records the paths a disk walk was asked for.
private final class WalkLog: Sendable {
    private let log = Mutex<[[String]]>([])
    func record(_ paths: [String]) { log.withLock { $0.append(paths) } }
    var paths: [[String]] { log.withLock { $0 } }
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
            "/usr/bin/env", ["python3", Fixtures.path("docker_engine_server.py"), socket] + (name.map { [$0] } ?? []))
        #expect(try process.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])
    }

    func stop() {
        process.kill()
        process.wait()
        directory.remove()
    }
}
