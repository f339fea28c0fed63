import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// A scale run by hand: `RW_SCALE_CONTAINERS=200 swift test --skip-build --filter ContainerScaleRun`
/// starts that many busybox `sleep` containers on the test engine, ticks at 1 s for 30 ticks with
/// the event watcher on, and prints ticks on time, containers with real figures, the agent's CPU
/// per container per tick, the same for one round of the stats endpoint, and dockerd's CPU.
/// Off unless the variable is set (it takes minutes).
@Suite("Container scale run (by hand)", .enabled(if: getenv("RW_SCALE_CONTAINERS") != nil), .serialized)
struct ContainerScaleRun {
    static func processCPUSeconds(_ pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        // After the command: state is field 0, utime field 11, stime field 12.
        let fields = text[text.index(after: close)...].split(separator: " ")
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test("N containers at poll 1 s: ticks on time, real figures, cost per container per tick")
    func scale() async throws {
        let count = Int(String(cString: getenv("RW_SCALE_CONTAINERS"))) ?? 50
        let containers = try KernelContainerTests.Containers()
        defer { containers.removeAll() }
        var components: [(String, String)] = []
        for index in 0..<count {
            components.append(
                ("c\(index)", try containers.run("c\(index)", ["--memory", "32m", "--cpus", "0.5"], "sleep 100000"))
            )
        }
        let engine = containers.engine
        let daemon = pid_t(
            try String(contentsOfFile: engine.directory + "/docker.pid", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        )!
        let composer = TickComposer(
            config: KernelContainerTests.config(socket: engine.socket, components),
            agentID: "scale"
        )
        let watcher = Task { await composer.watchContainerEngine() }
        defer { watcher.cancel() }
        _ = await KernelContainerTests.tick(composer, timeout: .seconds(30))  // list and inspect all
        let ticks = 30
        var onTime = 0
        var complete = 0
        let agentBefore = Self.processCPUSeconds(getpid())
        let engineBefore = Self.processCPUSeconds(daemon)
        var deadline = ContinuousClock.now
        for _ in 0..<ticks {
            deadline += .seconds(1)
            try await Task.sleep(until: deadline, clock: .continuous)  // the poll interval
            let started = ContinuousClock.now
            let batch = await KernelContainerTests.tick(composer)
            if ContinuousClock.now - started < .milliseconds(500) { onTime += 1 }
            if batch.components.allSatisfy({ $0.status == .healthy && $0.memoryUsageKib > 0 }) { complete += 1 }
        }
        let agentCPU = Self.processCPUSeconds(getpid()) - agentBefore
        let engineCPU = Self.processCPUSeconds(daemon) - engineBefore
        // The stats endpoint, as the old sampler asked it: one-shot stats for every container, 32 at once.
        let client = DockerEngine(socketPath: engine.socket)
        let lanes = (0..<32).map { _ in client.makeClient() }
        let ids = try components.map { try containers.id($0.1) }
        let statsAgentBefore = Self.processCPUSeconds(getpid())
        let statsEngineBefore = Self.processCPUSeconds(daemon)
        let statsStarted = ContinuousClock.now
        var answered = 0
        for round in 0..<3 {
            _ = round
            answered += await withTaskGroup(of: Int.self) { group in
                for (lane, client) in lanes.enumerated() {
                    let share = stride(from: lane, to: ids.count, by: lanes.count).map { ids[$0] }
                    group.addTask {
                        var got = 0
                        for id in share where (try? await client.stats(id: id)) != nil { got += 1 }
                        return got
                    }
                }
                return await group.reduce(0, +)
            }
        }
        let statsWall = (ContinuousClock.now - statsStarted).inSeconds / 3
        let statsAgent = (Self.processCPUSeconds(getpid()) - statsAgentBefore) / 3
        let statsEngine = (Self.processCPUSeconds(daemon) - statsEngineBefore) / 3
        print(
            """
            scale: \(count) containers, \(ticks) ticks at 1 s: \(onTime) under 0.5 s, \(complete) with every container's figures
            kernel: agent \(String(format: "%.3f", agentCPU / Double(ticks) / Double(count) * 1000)) ms CPU per container per tick; \
            dockerd \(String(format: "%.2f", engineCPU)) CPU-s over \(ticks) s (\(String(format: "%.2f", engineCPU * 2)) CPU-s/min)
            stats endpoint: one round of \(count) (\(answered / 3) answered) took \(String(format: "%.2f", statsWall)) s; \
            agent \(String(format: "%.3f", statsAgent / Double(count) * 1000)) ms CPU per container, \
            dockerd \(String(format: "%.3f", statsEngine / Double(count) * 1000)) ms CPU per container
            """
        )
        #expect(onTime == ticks)
        #expect(complete == ticks)
    }
}
