import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

/// A discovered service restarted between discovery scans, on the sampler with a clock driven
/// at the shipped intervals (poll 5 s, discovery 30 s).
@Suite("Discovered services that restart", .serialized)
struct DiscoveryRestartTests {
    @Test("a discovered service whose process is replaced (new PID) is taken up at the next tick, not at the next scan")
    func replacementIsTakenUpAtTheNextTick() throws {
        let directory = TemporaryDirectory()
        let path = directory.path + "/milvus"
        _ = try ChildProcess("/bin/cp", ["/bin/sleep", path]).finish()
        var config = Config()
        config.discovery = DiscoveryConfig(enabled: true, intervalSeconds: 30)
        let composer = TickComposer(config: config, agentID: "test")
        var now = ContinuousClock.now
        var clock: Int64 = 1_000_000
        func tick() -> ResourceWatcher_V1_Batch {
            now += .seconds(5)
            clock += 5000
            return composer.composeBatch(intervalSeconds: 5, now: now, nowUnixMilliseconds: clock)
        }
        var process = try ChildProcess(path, ["600"])
        defer { process.killGroup() }
        _ = tick()
        let name = try #require(composer.sampler.discoveredComponents().first { $0.pid == process.pid }?.name)
        for restart in 1...3 {
            process.killGroup()
            process.wait()
            process = try ChildProcess(path, ["600"])
            let batch = tick()
            #expect(batch.components.first { $0.name == name }?.status == .healthy, "restart \(restart)")
            #expect(!batch.activeAlerts.contains { $0.component == name })
            let component = composer.sampler.discoveredComponents().first { $0.name == name }
            #expect(component?.pid == process.pid && component?.isRunning == true, "restart \(restart)")
            #expect(tick().components.first { $0.name == name }?.status == .healthy)
        }
    }
}
