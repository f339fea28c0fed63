import HTTPTransport
import Synchronization
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Container figures read from the kernel, the engine followed through its events: against the
/// real test engine (Debian's 20.10, cgroup v1 here), with a relay in front of it that logs what
/// the agent asks.
@Suite("Containers read from the kernel, real Docker engine", .serialized)
struct KernelContainerTests {
    /// A test's containers on `engine`, removed by `removeAll`.
    final class Containers {
        let engine: DockerTestEngine
        let prefix = "rk\(UInt32.random(in: 0...UInt32.max))-"
        private(set) var names: [String] = []

        init(engine: DockerTestEngine? = nil) throws { self.engine = try engine ?? DockerTestEngine.shared() }

        @discardableResult
        func run(_ name: String, _ options: [String] = [], _ script: String) throws -> String {
            let full = prefix + name
            names.append(full)
            try engine.docker(
                ["run", "-d", "--name", full, "--network", "none"] + options + [
                    DockerTestEngine.image, "sh", "-c", script,
                ]
            )
            return full
        }

        func id(_ name: String) throws -> String {
            try engine.docker("inspect", "-f", "{{.Id}}", name).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func removeAll() {
            if !names.isEmpty { _ = try? engine.docker(["rm", "-f"] + names + names.map { $0 + "-renamed" }) }
            names = []
        }
    }

    static func config(socket: String, _ components: [(String, String)]) -> Config {
        var config = Config()
        config.dockerSocket = socket
        config.components = components.map { ComponentConfig(name: $0.0, clientID: "tenant-a", containerName: $0.1) }
        return config
    }

    static func tick(_ composer: TickComposer, timeout: Duration = .milliseconds(500)) async -> ResourceWatcher_V1_Batch
    {
        composer.composeBatch(intervalSeconds: 1, containerSamples: await composer.sampleContainers(timeout: timeout))
    }

    /// Block I/O: this machine's kernel counts none in any blkio cgroup (the root's
    /// `blkio.throttle.io_service_bytes_recursive` reads "Total 0"), so here the comparison is
    /// 0 against 0; `ContainerKernelReaderTests` checks the rates on fixture trees.
    @Test(
        "CPU under --cpus and without a limit, memory under --memory and block I/O within 5% of docker stats over the same window, no stats request"
    )
    func figuresMatchDockerStats() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        let hold = "x=$(head -c 24000000 /dev/zero | tr '\\000' a); while :; do :; done"
        let limited = try containers.run("limited", ["--cpus", "0.5", "--memory", "64m"], hold)
        let free = try containers.run("free", [], hold)
        let writer = try containers.run(
            "writer",
            [],
            "while :; do dd if=/dev/zero of=/blob bs=64k count=64 conv=fsync 2>/dev/null; done"
        )
        // The agent asks the engine through a relay that logs its requests; the reference
        // documents come straight from the engine.
        let relay = try CountingRelay(upstream: containers.engine.socket)
        defer { relay.stop() }
        let composer = TickComposer(
            config: Self.config(socket: relay.socket, [("limited", limited), ("free", free), ("writer", writer)]),
            agentID: "t"
        )
        try await pollUntil("both busy containers hold their memory") {
            let batch = await Self.tick(composer)
            return batch.components.filter { $0.name != "writer" }.allSatisfy { $0.memoryUsageKib > 20 * 1024 }
        }
        let onlineCPUs = Double(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        for (component, name, capacity) in [
            ("limited", limited, 0.5), ("free", free, onlineCPUs), ("writer", writer, onlineCPUs),
        ] {
            // The engine reads a stats document a second; a tick right after each of two
            // documents four seconds apart covers the same window as docker's figures of those
            // two (four seconds, so a tick's delay on a loaded machine is a small part of it).
            let stream = StatsStream(socket: containers.engine.socket, id: try containers.id(name))
            defer { stream.stop() }
            var documents = stream.documents.makeAsyncIterator()
            let before = try #require(await documents.next())
            _ = await Self.tick(composer)
            for _ in 0..<3 { _ = await documents.next() }
            let after = try #require(await documents.next())
            let second = await Self.tick(composer)
            let sample = try #require(second.components.first { $0.name == component })
            #expect(sample.status == .healthy || sample.status == .degraded, "\(component): \(sample.statusReason)")
            let dockerCPU = try #require(DockerStatsCalculator.cpuPercentOfOneCore(previous: before, current: after))
            let cpu = Double(sample.cpuUsageCentipercent) / 100 * capacity
            #expect(
                abs(cpu - dockerCPU) <= max(dockerCPU * 0.05, 0.5),
                "\(component) cpu \(cpu) vs docker \(dockerCPU)"
            )
            let dockerMemory = Double(DockerStatsCalculator.memoryUsageBytes(after))
            let memory = Double(sample.memoryUsageKib) * 1024
            let dockerPercent = dockerMemory / Double(try #require(after.memoryLimitBytes)) * 100
            let percent = Double(sample.memoryUsageCentipercent) / 100
            // The writer's memory moves with every dd (buffers, cache): compared where it holds still.
            if component != "writer" {
                #expect(
                    abs(memory - dockerMemory) <= dockerMemory * 0.05,
                    "\(component) memory \(memory) vs docker \(dockerMemory)"
                )
                #expect(
                    abs(percent - dockerPercent) <= max(dockerPercent * 0.05, 0.02),
                    "\(component) memory % \(percent) vs docker \(dockerPercent)"
                )
            }
            let seconds = Double((after.readUnixNanoseconds ?? 0) - (before.readUnixNanoseconds ?? 0)) / 1e9
            let dockerWritten = Double(after.blockWriteBytes - before.blockWriteBytes)
            let written = Double(sample.diskWriteBytesPerSecond) * seconds
            #expect(
                abs(written - dockerWritten) <= max(dockerWritten * 0.05, 256 * 1024),
                "\(component) block writes \(written) vs docker \(dockerWritten)"
            )
            print(
                "\(component): cpu \(cpu) % of a core vs docker \(dockerCPU), memory \(memory) B vs \(dockerMemory), "
                    + "memory \(percent) % vs \(dockerPercent), written \(written) B vs \(dockerWritten) over \(seconds) s"
            )
        }
        let stats = relay.requests().filter { $0.contains("/stats") }
        #expect(stats.isEmpty, "the figures came from the kernel, not the stats endpoint: \(stats)")
    }

    @Test(
        "a container started, stopped, paused, renamed and removed is followed within a tick of the event; a known running one costs no engine call per tick"
    )
    func followsEvents() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        let relay = try CountingRelay(upstream: containers.engine.socket)
        defer { relay.stop() }
        let app = containers.prefix + "app"
        let composer = TickComposer(
            config: Self.config(socket: relay.socket, [("app", app), ("renamed", app + "-renamed")]),
            agentID: "t"
        )
        let watcher = Task { await composer.watchContainerEngine() }
        defer { watcher.cancel() }
        try await pollUntil("the event stream open") { relay.requests().contains { $0.contains("/events?") } }
        func sample(_ name: String) async -> ResourceWatcher_V1_ComponentSample? {
            await Self.tick(composer).components.first { $0.name == name }
        }
        #expect(await sample("app")?.status == .down)
        /// Polls ticks after the change was made: the first tick a poll interval (1 s) later must
        /// show it; the deadline allows that tick's own time on a loaded machine (2 s in all).
        func withinOneTick(_ what: String, _ condition: (ResourceWatcher_V1_ComponentSample?) -> Bool) async throws {
            var last: ResourceWatcher_V1_ComponentSample?
            try await pollUntil(what, timeout: .seconds(2), context: "\(String(describing: last))") {
                last = await sample(what.components(separatedBy: " ")[0])
                return condition(last)
            }
        }
        try containers.run("app", ["--memory", "32m"], "sleep 100000")
        try await withinOneTick("app started") { $0?.status == .healthy && ($0?.memoryUsageKib ?? 0) > 0 }

        // Steady state: ticks ask the engine nothing about a running container it knows. (The
        // watcher's own list and inspect of the started container may land just after it was
        // sampled: wait until the relay has been quiet for 300 ms.)
        var seen = relay.requests().count
        var quietSince = ContinuousClock.now
        try await pollUntil("the engine's requests settled") {
            let count = relay.requests().count
            if count != seen { (seen, quietSince) = (count, .now) }
            return ContinuousClock.now - quietSince > .milliseconds(300)
        }
        let asked = relay.requests().count
        for _ in 0..<5 {
            let figures = await sample("app")
            #expect(figures?.status == .healthy && (figures?.memoryUsageCentipercent ?? 0) > 0)
            try await Task.sleep(for: .milliseconds(200))  // the next poll
        }
        let steady = relay.requests().dropFirst(asked)
        #expect(steady.allSatisfy { $0.hasSuffix("/_ping") }, "engine requests during 5 ticks: \(Array(steady))")

        try containers.engine.docker("pause", app)
        try await withinOneTick("app paused") { $0?.statusReason == "container \(app) is paused" }
        try containers.engine.docker("unpause", app)
        try await withinOneTick("app unpaused") { $0?.status == .healthy }
        try containers.engine.docker("stop", "-t", "0", app)
        try await withinOneTick("app stopped") { $0?.statusReason == "container \(app) is exited" }
        try containers.engine.docker("start", app)
        try await withinOneTick("app started again") { $0?.status == .healthy }
        try containers.engine.docker("rename", app, app + "-renamed")
        try await withinOneTick("app renamed away") { $0?.statusReason == "no container named \(app)" }
        try await withinOneTick("renamed is the container") { $0?.status == .healthy }
        try containers.engine.docker("rm", "-f", app + "-renamed")
        try await withinOneTick("renamed removed") { $0?.statusReason == "no container named \(app)-renamed" }
        let stats = relay.requests().filter { $0.contains("/stats") }
        #expect(stats.isEmpty, "no stats requests: \(stats)")
    }

    @Test(
        "two containers (busy under --cpus 0.5, chatty under --memory 64m) on a machine kept busy: 0 unknown readings over 60 ticks at poll 1 s"
    )
    func busyMachineNoUnknown() async throws {
        let containers = try Containers()
        defer { containers.removeAll() }
        let busy = try containers.run("busy", ["--cpus", "0.5"], "while :; do :; done")
        let chatty = try containers.run(
            "chatty",
            ["--memory", "64m"],
            "while :; do echo chatter line; done"
        )
        // Two host loops take both cores for the whole run, as the busy machine did.
        let loads = try (0..<2).map { _ in try ChildProcess("/bin/sh", ["-c", "while :; do :; done"]) }
        defer {
            for load in loads {
                load.kill(SIGKILL)
                _ = load.wait()
            }
        }
        let composer = TickComposer(
            config: Self.config(socket: containers.engine.socket, [("busy", busy), ("chatty", chatty)]),
            agentID: "t"
        )
        let watcher = Task { await composer.watchContainerEngine() }
        defer { watcher.cancel() }
        try await pollUntil("both containers sampled") {
            await Self.tick(composer).components.allSatisfy { $0.status == .healthy || $0.status == .degraded }
        }
        var unknown: [String] = []
        var deadline = ContinuousClock.now
        for tick in 1...60 {
            // A tick a second: the poll interval of the case, not a synchronisation.
            deadline += .seconds(1)
            try await Task.sleep(until: deadline, clock: .continuous)
            for sample in await Self.tick(composer).components where sample.status == .unknown {
                unknown.append("tick \(tick) \(sample.name): \(sample.statusReason)")
            }
        }
        #expect(unknown.isEmpty, "\(unknown.count) unknown readings: \(unknown.prefix(5))")
    }

    @Test(
        "the engine stopped (SIGSTOP) for 30 s: a running container has real figures every tick; the batch names the engine"
    )
    func stoppedEngine() async throws {
        // An engine of its own: the shared one serves other suites meanwhile.
        let engine = try DockerTestEngine()
        defer { engine.remove() }
        let containers = try Containers(engine: engine)
        defer { containers.removeAll() }
        let busy = try containers.run("busy", ["--cpus", "0.5", "--memory", "64m"], "while :; do :; done")
        let composer = TickComposer(config: Self.config(socket: engine.socket, [("busy", busy)]), agentID: "t")
        let watcher = Task { await composer.watchContainerEngine() }
        defer { watcher.cancel() }
        try await pollUntil("the container sampled with a CPU figure") {
            let sample = await Self.tick(composer).components.first
            return sample?.status == .healthy && (sample?.cpuUsageCentipercent ?? 0) > 0
        }
        let daemon = try #require(
            Int32(
                try String(contentsOfFile: engine.directory + "/docker.pid", encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            )
        )
        kill(daemon, SIGSTOP)
        defer { kill(daemon, SIGCONT) }
        let stopped = ContinuousClock.now
        var ticks = 0
        var late = 0
        var named = false
        var deadline = ContinuousClock.now
        while ContinuousClock.now - stopped < .seconds(30) {
            // A tick a second (the poll interval): CPU under a quota is a rate over a whole second.
            deadline += .seconds(1)
            try await Task.sleep(until: deadline, clock: .continuous)
            let started = ContinuousClock.now
            let batch = await Self.tick(composer)
            if ContinuousClock.now - started > .milliseconds(800) { late += 1 }
            ticks += 1
            let sample = try #require(batch.components.first)
            #expect(sample.status == .healthy || sample.status == .degraded, "tick \(ticks): \(sample.statusReason)")
            #expect(sample.cpuUsageCentipercent > 2_000, "tick \(ticks): cpu \(sample.cpuUsageCentipercent)")
            #expect(sample.memoryUsageKib > 0)
            if batch.sourceProblems.contains(where: { $0.source == "docker" }) { named = true }
        }
        #expect(named, "a source problem names the engine while it does not answer")
        #expect(late == 0, "\(late) of \(ticks) ticks took longer than 0.8 s")
        print("engine stopped 30 s: \(ticks) ticks, all with figures; \(late) late")
    }
}

/// `GET /containers/{id}/stats?stream=true`: the engine's documents as it sends them, once a
/// second (the request ends after 60 s).
final class StatsStream: Sendable {
    let documents: AsyncStream<DockerStats>
    private let task: Task<Void, Never>

    init(socket: String, id: String) {
        let (documents, continuation) = AsyncStream.makeStream(of: DockerStats.self)
        self.documents = documents
        let transport = CurlTransport(unixSocketPath: socket, userAgent: "test", requestTimeout: .seconds(60))
        task = Task {
            let pending = Mutex([UInt8]())
            _ = try? await transport.stream(
                HTTPRequest(url: "http://localhost/v1.41/containers/\(id)/stats?stream=true"),
                to: HTTPStreamReceiver(
                    response: { _ in },
                    body: { piece in
                        let lines = pending.withLock { pending -> [[UInt8]] in
                            pending += piece
                            var lines: [[UInt8]] = []
                            while let newline = pending.firstIndex(of: 0x0A) {
                                lines.append(Array(pending[..<newline]))
                                pending.removeSubrange(...newline)
                            }
                            return lines
                        }
                        for line in lines {
                            if let stats = try? JSONDecoder().decode(DockerStats.self, from: Data(line)) {
                                continuation.yield(stats)
                            }
                        }
                        return true
                    }
                )
            )
            continuation.finish()
        }
    }

    func stop() { task.cancel() }
}

/// Tests/Fixtures/counting_unix_relay.py in front of an engine: what the agent asked it.
final class CountingRelay {
    let socket: String
    private let log: String
    private let process: ChildProcess
    private let directory = TemporaryDirectory(prefix: "rwrel")

    init(upstream: String) throws {
        socket = directory.path + "/relay.sock"
        log = directory.path + "/requests.log"
        process = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("counting_unix_relay.py"), socket, upstream, log]
        )
        #expect(try process.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])
    }

    /// "GET /v1.41/containers/json?all=true", … in the order asked.
    func requests() -> [String] {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func stop() {
        process.kill()
        _ = process.wait()
        directory.remove()
    }
}
