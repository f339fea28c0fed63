import HTTPTransport
import Synchronization
import TestSupport
import Testing

@testable import Sampler

/// Tests/Fixtures/docker_engine_server.py on a unix socket, and a client over CurlTransport on it.
private final class EngineServer {
    let directory = TemporaryDirectory()
    let process: ChildProcess
    let client: DockerClient

    init() throws {
        let socketPath = directory.path + "/docker.sock"
        process = try ChildProcess("/usr/bin/env", ["python3", Fixtures.path("docker_engine_server.py"), socketPath])
        _ = try process.readLines(atLeast: 1, deadline: .now + .seconds(30))
        client = DockerEngine(socketPath: socketPath).makeClient()
    }

    func stop() {
        process.kill()
        process.wait()
        directory.remove()
    }
}

private let webID = "4c9b2d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c"
private let legacyID = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d"
private let stoppedID = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
private let mebibyte: UInt64 = 1 << 20

private func close(_ value: Double?, _ expected: Double) -> Bool {
    guard let value else { return false }
    return abs(value - expected) < 1e-9
}

@Suite("Docker Engine API client")
struct DockerClientTests {
    @Test("the list includes stopped containers, names lose their leading slash, links are not names")
    func listParsing() async throws {
        let server = try EngineServer()
        defer { server.stop() }
        let containers = try await server.client.containers()
        #expect(containers.map(\.name) == ["web", "legacy", "stopped-job"])
        #expect(containers.map(\.id) == [webID, legacyID, stoppedID])
        #expect(containers.map(\.isRunning) == [true, true, false])
        #expect(containers[1].names == ["legacy", "web/legacy-link"])
        #expect(containers[0].image == "nginx:1.25")
        #expect(containers[0].labels == ["com.docker.compose.service": "web"])
        #expect(containers[2].state == "exited")
        #expect(containers[2].status == "Exited (0) 5 minutes ago")
        #expect(try await server.client.containers(includeStopped: false).map(\.name) == ["web", "legacy"])
    }

    @Test("cgroup v2 stats: usage less inactive_file, CPU and network against the previous sample")
    func cgroupV2Formulas() async throws {
        let server = try EngineServer()
        defer { server.stop() }
        let web = try #require(try await server.client.containers().first { $0.name == "web" })
        var calculator = DockerStatsCalculator()
        let start = ContinuousClock.now

        let first = calculator.figures(for: web, stats: try await server.client.stats(id: web.id), at: start)
        #expect(first.containerID == webID)
        #expect(first.name == "web")
        #expect(first.isRunning)
        #expect(first.cpuPercentOfOneCore == nil)  // one-shot precpu is empty: no figure yet
        #expect(first.onlineCPUs == 2)
        #expect(first.memoryUsageBytes == 80 * mebibyte)  // 100 MiB usage - 20 MiB inactive_file
        #expect(first.memoryLimitBytes == 512 * mebibyte)
        #expect(close(first.memoryPercent, 15.625))
        #expect(first.networkRxBytes == 1500)  // eth0 1000 + eth1 500
        #expect(first.networkTxBytes == 2250)  // eth0 2000 + eth1 250
        #expect(first.networkRxBytesPerSecond == nil)
        #expect(first.networkTxBytesPerSecond == nil)
        #expect(first.blockReadBytes == 4096)
        #expect(first.blockWriteBytes == 8192)
        #expect(first.processCount == 5)

        let second = calculator.figures(
            for: web,
            stats: try await server.client.stats(id: web.id),
            sizeRwBytes: 42,
            at: start + .seconds(2)
        )
        // (0.5 s container CPU / 2 s host CPU) × 2 CPUs × 100 = half a core.
        #expect(close(second.cpuPercentOfOneCore, 50))
        #expect(second.memoryUsageBytes == 90 * mebibyte)
        #expect(close(second.memoryPercent, 17.578125))
        #expect(second.networkRxBytes == 12500)
        #expect(second.networkTxBytes == 4250)
        #expect(close(second.networkRxBytesPerSecond, 5500))  // (12500 - 1500) / 2 s
        #expect(close(second.networkTxBytesPerSecond, 1000))  // (4250 - 2250) / 2 s
        #expect(second.blockReadBytes == 8192)
        #expect(second.blockWriteBytes == 16384)
        #expect(second.sizeRwBytes == 42)
        // DESIGN §3: of its 1.5-core limit, else of both online CPUs.
        #expect(close(second.cpuPercentOfCapacity(limitCores: 1.5), 50 / 1.5))
        #expect(close(second.cpuPercentOfCapacity(limitCores: nil), 25))
    }

    @Test("cgroup v1 stats: usage less total_inactive_file, CPU count from percpu_usage")
    func cgroupV1Formulas() async throws {
        let server = try EngineServer()
        defer { server.stop() }
        let legacy = try #require(try await server.client.containers().first { $0.name == "legacy" })
        var calculator = DockerStatsCalculator()
        let start = ContinuousClock.now
        let firstStats = try await server.client.stats(id: legacy.id)
        #expect(firstStats.memoryStatistics["total_inactive_file"] == 10 * mebibyte)
        #expect(firstStats.memoryStatistics["hierarchical_memsw_limit"] == 9_223_372_036_854_771_712)

        let first = calculator.figures(for: legacy, stats: firstStats, at: start)
        #expect(first.cpuPercentOfOneCore == nil)
        #expect(first.onlineCPUs == 4)  // no online_cpus: four percpu_usage entries
        // 50 MiB usage - total_inactive_file 10 MiB (not inactive_file, 5 MiB).
        #expect(first.memoryUsageBytes == 40 * mebibyte)
        #expect(first.memoryLimitBytes == 200 * mebibyte)
        #expect(close(first.memoryPercent, 20))
        #expect(first.networkRxBytes == 100)
        #expect(first.networkTxBytes == 200)
        #expect(first.blockReadBytes == 1024)  // "Read" on two devices; Sync/Async/Total not counted
        #expect(first.blockWriteBytes == 3000)

        let second = calculator.figures(
            for: legacy,
            stats: try await server.client.stats(id: legacy.id),
            at: start + .seconds(1)
        )
        // (1 s container CPU / 4 s host CPU) × 4 CPUs × 100 = one full core.
        #expect(close(second.cpuPercentOfOneCore, 100))
        #expect(second.memoryUsageBytes == 50 * mebibyte)
        #expect(close(second.memoryPercent, 25))
        #expect(close(second.networkRxBytesPerSecond, 200))
        #expect(close(second.networkTxBytesPerSecond, 400))
        // A 0.5-core quota is saturated: capped at 100; of the host's 4 CPUs, a quarter.
        #expect(close(second.cpuPercentOfCapacity(limitCores: 0.5), 100))
        #expect(close(second.cpuPercentOfCapacity(limitCores: nil), 25))
    }

    @Test("a stopped container is reported, not running, with the engine's empty stats")
    func stoppedContainer() async throws {
        let server = try EngineServer()
        defer { server.stop() }
        let stopped = try #require(try await server.client.containers().first { $0.name == "stopped-job" })
        #expect(!stopped.isRunning)
        var calculator = DockerStatsCalculator()
        let start = ContinuousClock.now
        _ = calculator.figures(for: stopped, stats: try await server.client.stats(id: stopped.id), at: start)
        let figures = calculator.figures(
            for: stopped,
            stats: try await server.client.stats(id: stopped.id),
            at: start + .seconds(1)
        )
        #expect(figures.name == "stopped-job")
        #expect(!figures.isRunning)
        #expect(figures.cpuPercentOfOneCore == nil)
        #expect(figures.memoryUsageBytes == 0)
        #expect(figures.memoryLimitBytes == nil)
        #expect(figures.memoryPercent == nil)
        #expect(figures.networkRxBytes == 0)
        #expect(figures.networkRxBytesPerSecond == nil)
        #expect(figures.processCount == nil)
    }

    @Test("inspect reads sizes only when asked, mounts, and the CPU and memory limits")
    func inspectSize() async throws {
        let server = try EngineServer()
        defer { server.stop() }
        let web = try await server.client.inspect(id: webID)
        #expect(web.name == "web")
        #expect(web.isRunning)
        #expect(web.pid == 4242)
        #expect(web.sizeRwBytes == 12_345_678)
        #expect(web.sizeRootFsBytes == 187_654_321)
        #expect(web.cpuLimitCores == 1.5)
        #expect(web.memoryLimitBytes == 512 << 20)
        #expect(
            web.mounts == [
                .init(
                    type: "volume",
                    name: "web-data",
                    source: "/var/lib/docker/volumes/web-data/_data",
                    destination: "/data",
                    isReadWrite: true
                ),
                .init(type: "bind", name: nil, source: "/etc/web", destination: "/config", isReadWrite: false),
            ]
        )
        let withoutSize = try await server.client.inspect(id: webID, includeSize: false)
        #expect(withoutSize.sizeRwBytes == nil)
        #expect(withoutSize.sizeRootFsBytes == nil)

        let legacy = try await server.client.inspect(id: "legacy")  // by name
        #expect(legacy.cpuLimitCores == 0.5)
        #expect(legacy.memoryLimitBytes == nil)
        let stopped = try await server.client.inspect(id: stoppedID)
        #expect(!stopped.isRunning)
        #expect(stopped.pid == nil)
        #expect(stopped.sizeRwBytes == 0)
        #expect(stopped.cpuLimitCores == nil)
    }

    @Test("an unknown container is notFound with the engine's message; no engine is a transport error")
    func errors() async throws {
        let server = try EngineServer()
        defer { server.stop() }
        let missing = await #expect(throws: DockerError.self) { try await server.client.stats(id: "gone") }
        #expect(missing?.code == .notFound)
        #expect(missing?.status == 404)
        #expect(missing?.message == "No such container: gone")

        let nowhere = DockerEngine(socketPath: server.directory.path + "/absent.sock").makeClient()
        let unreachable = await #expect(throws: DockerError.self) { try await nowhere.containers() }
        #expect(unreachable?.code == .transport)
        #expect(unreachable?.transportError?.code == .connect)
    }

    @Test("the version is negotiated once through /_ping: the lower of the engine's and the agent's newest")
    func requestsThroughFake() async throws {
        let fake = ScriptedTransport(
            always:
                HTTPResponse(status: 200, headers: [("Api-Version", "1.41")], body: Array("{\"not\": \"stats\"".utf8))
        )
        let client = DockerClient(transport: fake, engine: DockerEngine(socketPath: "/fake.sock"))
        let error = await #expect(throws: DockerError.self) { try await client.stats(id: "my app") }
        #expect(error?.code == .malformedResponse)
        _ = try? await client.containers()
        _ = try? await client.inspect(id: "abc")
        #expect(
            fake.requestedURLs == [
                "http://localhost/_ping",
                "http://localhost/v1.41/containers/my%20app/stats?stream=false&one-shot=true",
                "http://localhost/v1.41/containers/json?all=true",
                "http://localhost/v1.41/containers/abc/json?size=true",
            ]
        )
    }

    @Test("an engine newer than the agent is spoken to in the agent's newest version; older than 1.41 without one-shot")
    func versionBounds() async throws {
        let newer = ScriptedTransport(
            always: HTTPResponse(status: 200, headers: [("Api-Version", "1.47")], body: Array("[]".utf8))
        )
        _ = try await DockerClient(transport: newer, engine: DockerEngine(socketPath: "/fake.sock")).containers()
        #expect(newer.requestedURLs.last == "http://localhost/v1.43/containers/json?all=true")

        let older = ScriptedTransport(
            always: HTTPResponse(status: 200, headers: [("Api-Version", "1.40")], body: Array("{}".utf8))
        )
        _ = try? await DockerClient(transport: older, engine: DockerEngine(socketPath: "/fake.sock")).stats(id: "a")
        #expect(older.requestedURLs.last == "http://localhost/v1.40/containers/a/stats?stream=false")

        let ancient = ScriptedTransport(
            always: HTTPResponse(status: 200, headers: [("Api-Version", "1.30")], body: Array("[]".utf8))
        )
        let refused = await #expect(throws: DockerError.self) {
            try await DockerClient(transport: ancient, engine: DockerEngine(socketPath: "/fake.sock")).containers()
        }
        #expect(refused?.code == .unsupportedVersion)
        #expect(refused?.message.contains("1.30") == true)

        let garbled = ScriptedTransport(always: HTTPResponse(status: 200, headers: [("Api-Version", "one")], body: []))
        let malformed = await #expect(throws: DockerError.self) {
            try await DockerClient(transport: garbled, engine: DockerEngine(socketPath: "/fake.sock")).containers()
        }
        #expect(malformed?.code == .malformedResponse)
    }

    @Test("stats with precpu (taken without one-shot) give a CPU figure at once; one-shot stats do not")
    func precpu() {
        let container = DockerContainer(
            id: "p",
            name: "p",
            names: ["p"],
            image: "",
            state: "running",
            status: "",
            labels: [:]
        )
        var withEngineReading = DockerStats(
            read: nil,
            cpuTotalUsageNanoseconds: 3_000_000_000,
            systemCPUUsageNanoseconds: 20_000_000_000,
            onlineCPUs: 4,
            memoryUsageBytes: 0,
            memoryLimitBytes: 0,
            memoryStatistics: [:],
            networks: [:],
            blockReadBytes: 0,
            blockWriteBytes: 0,
            processCount: nil
        )
        var oneShot = withEngineReading
        withEngineReading.previousCPUTotalUsageNanoseconds = 2_000_000_000
        withEngineReading.previousSystemCPUUsageNanoseconds = 16_000_000_000
        // (3e9 - 2e9) / (20e9 - 16e9) × 4 CPUs × 100 = 100 % of one core
        var calculator = DockerStatsCalculator()
        #expect(calculator.figures(for: container, stats: withEngineReading, at: .now).cpuPercentOfOneCore == 100)
        oneShot.previousSystemCPUUsageNanoseconds = 0
        var fresh = DockerStatsCalculator()
        #expect(fresh.figures(for: container, stats: oneShot, at: .now).cpuPercentOfOneCore == nil)
    }

    @Test("counters that went backwards (a restart) give no CPU or network figure, then resume")
    func counterReset() {
        let container = DockerContainer(
            id: "c",
            name: "c",
            names: ["c"],
            image: "",
            state: "running",
            status: "",
            labels: [:]
        )
        func stats(cpu: UInt64, system: UInt64, received: UInt64) -> DockerStats {
            DockerStats(
                read: nil,
                cpuTotalUsageNanoseconds: cpu,
                systemCPUUsageNanoseconds: system,
                onlineCPUs: 8,
                memoryUsageBytes: 100,
                memoryLimitBytes: 0,
                memoryStatistics: ["inactive_file": 200],
                networks: ["eth0": .init(receivedBytes: received, transmittedBytes: 0)],
                blockReadBytes: 0,
                blockWriteBytes: 0,
                processCount: nil
            )
        }
        var calculator = DockerStatsCalculator()
        let start = ContinuousClock.now
        _ = calculator.figures(for: container, stats: stats(cpu: 5_000, system: 100_000, received: 1000), at: start)
        let reset = calculator.figures(
            for: container,
            stats: stats(cpu: 1_000, system: 108_000, received: 10),
            at: start + .seconds(1)
        )
        #expect(reset.cpuPercentOfOneCore == nil)
        #expect(reset.networkRxBytesPerSecond == nil)
        #expect(reset.memoryUsageBytes == 100)  // inactive_file not below usage: usage as is
        #expect(reset.memoryPercent == nil)  // a zero limit gives no percent
        let resumed = calculator.figures(
            for: container,
            stats: stats(cpu: 3_000, system: 116_000, received: 30),
            at: start + .seconds(2)
        )
        #expect(close(resumed.cpuPercentOfOneCore, 200))  // 2000 / 8000 × 8 × 100
        #expect(close(resumed.networkRxBytesPerSecond, 20))
        let stalled = calculator.figures(
            for: container,
            stats: stats(cpu: 3_000, system: 116_000, received: 30),
            at: start + .seconds(3)
        )
        #expect(stalled.cpuPercentOfOneCore == nil)  // the host counter did not advance

        calculator.retainOnly([])
        let afresh = calculator.figures(
            for: container,
            stats: stats(cpu: 9_000, system: 200_000, received: 99),
            at: start + .seconds(4)
        )
        #expect(afresh.cpuPercentOfOneCore == nil)
    }
}
