import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

/// Whole ticks on real processes: samples, alerts and status together.
@Suite("Tick composer")
struct TickComposerTests {
    @Test("a killed component goes down and fires component_down; restarted, it is healthy and the alert resolves")
    func downAndBack() throws {
        let duration = "600.\(UInt32.random(in: 0...UInt32.max))"  // unique, so the command line is ours
        var config = Config()
        config.alerts.forSamples = 2
        config.components = [ComponentConfig(name: "worker", clientID: "tenant-a", cmdline: "^/bin/sleep \(duration)$")]
        let composer = TickComposer(config: config, agentID: "test")
        var clock: Int64 = 1_000_000

        func tick() -> ResourceWatcher_V1_Batch {
            clock += 1000
            return composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: clock)
        }

        var process = try ChildProcess("/bin/sleep", [duration])
        let first = tick()
        #expect(first.components.first?.status == .healthy)
        #expect(first.activeAlerts.isEmpty && first.transitions.isEmpty)

        process.kill()
        process.wait()
        let firstDown = tick()
        #expect(firstDown.components.first?.status == .down)
        #expect(firstDown.transitions.isEmpty, "component_down waits for for_samples")
        let secondDown = tick()
        #expect(secondDown.components.first?.status == .down)
        let fired = try #require(secondDown.transitions.first)
        #expect(fired.state == .firing)
        #expect(fired.alert.alertType == .componentDown)
        #expect(fired.alert.clientID == "tenant-a")
        #expect(secondDown.activeAlerts.map(\.alertType) == [.componentDown])
        #expect(tick().activeAlerts.map(\.alertType) == [.componentDown], "the active set rides in every batch")

        process = try ChildProcess("/bin/sleep", [duration])
        defer {
            process.kill()
            process.wait()
        }
        // Resolution may wait for for_samples healthy ticks: collect the transitions of each.
        var back = tick()
        var transitions = back.transitions
        for _ in 0..<config.alerts.forSamples where !back.activeAlerts.isEmpty {
            back = tick()
            transitions += back.transitions
        }
        #expect(back.components.first?.status == .healthy)
        #expect(back.activeAlerts.isEmpty)
        #expect(transitions.map(\.state) == [.resolved])
        #expect(transitions.first?.alert.alertType == .componentDown)
    }

    @Test("a wall clock stepping backwards does not put batches (and so a series' samples) out of order")
    func clockSteppingBack() {
        var config = Config()
        config.components = [ComponentConfig(name: "agent", clientID: "tenant-a", processName: "resource-watcher")]
        let composer = TickComposer(config: config, agentID: "test")
        let times = [5_000_000, 5_001_000, 4_000_000, 4_001_000, 5_003_000].map {
            composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: Int64($0)).timestampUnixMs
        }
        #expect(times == [5_000_000, 5_001_000, 5_001_001, 5_001_002, 5_003_000])
        // After a restart, from the last batch's time.
        var last = ResourceWatcher_V1_Batch()
        last.timestampUnixMs = 5_003_000
        let restarted = TickComposer(config: config, agentID: "test")
        restarted.restore(from: last)
        #expect(restarted.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: 4_500_000).timestampUnixMs == 5_003_001)
    }

    @Test(
        "every batch carries the alerts counting toward for_samples; a restart takes them up only from a recent batch"
    )
    func pendingAlertsRideInBatches() throws {
        let duration = "600.\(UInt32.random(in: 0...UInt32.max))"  // no such process: the component is down
        var config = Config()
        config.alerts.forSamples = 3
        config.pollIntervalSeconds = 1
        config.components = [ComponentConfig(name: "worker", clientID: "tenant-a", cmdline: "^/bin/sleep \(duration)$")]
        let composer = TickComposer(config: config, agentID: "test")
        _ = composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: 1_000_000)
        let last = composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: 1_001_000)
        #expect(last.activeAlerts.isEmpty)
        #expect(
            last.pendingAlerts.map { "\($0.component) \($0.alertType) \($0.consecutiveSamples)" } == [
                "worker componentDown 2"
            ]
        )
        // Through the spool's encoding, as a restart reads it.
        let decoded = try ResourceWatcher_V1_Batch(serializedBytes: try last.serializedBytes() as [UInt8])

        // Restarted within the window: the third down tick fires.
        let window = TickComposer.pendingRestoreWindow(pollIntervalSeconds: 1)
        let soon = TickComposer(config: config, agentID: "test")
        soon.restore(from: decoded, nowUnixMilliseconds: 1_001_000 + window)
        let fired = soon.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: 1_001_000 + window)
        #expect(fired.transitions.map(\.alert.alertType) == [.componentDown])
        // Restarted later: the samples in between were never taken, so the count starts again.
        let late = TickComposer(config: config, agentID: "test")
        late.restore(from: decoded, nowUnixMilliseconds: 1_001_000 + window + 1)
        let quiet = late.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: 1_001_000 + window + 1)
        #expect(quiet.transitions.isEmpty)
        #expect(quiet.pendingAlerts.first?.consecutiveSamples == 1)
    }
}
