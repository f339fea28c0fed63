import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

private typealias Sample = ResourceWatcher_V1_ComponentSample

/// Drives an evaluator tick by tick, ten seconds apart, without a real clock.
private struct Ticker {
    var evaluator: AlertEvaluator
    var now: Int64 = 1_700_000_000_000

    init(
        _ thresholds: AlertThresholds = AlertThresholds(forSamples: 3),
        overrides: [String: AlertThresholdOverrides] = [:]
    ) {
        evaluator = AlertEvaluator(global: thresholds, overrides: overrides)
    }

    init(_ thresholds: AlertThresholds, components: [ComponentConfig]) {
        evaluator = AlertEvaluator(global: thresholds, components: components)
    }

    mutating func tick(_ samples: [Sample], disk: [String: Double] = [:]) -> AlertEvaluation {
        now += 10_000
        return evaluator.evaluate(samples: samples, diskUsedPercent: disk, nowUnixMilliseconds: now)
    }

    /// Feeds one component's memory percents, one per tick, returning every tick's evaluation.
    mutating func memory(_ percents: [Double], of name: String = "ollama") -> [AlertEvaluation] {
        percents.map { tick([sample(name, memory: $0)]) }
    }
}

private func sample(
    _ name: String,
    cpu: Double = 10,
    memory: Double = 10,
    status: ResourceWatcher_V1_ComponentStatus = .healthy,
    clientID: String = "tenant-a"
) -> Sample {
    var sample = Sample()
    sample.name = name
    sample.clientID = clientID
    sample.status = status
    sample.cpuUsageCentipercent = UInt32((cpu * 100).rounded())
    sample.memoryUsageCentipercent = UInt32((memory * 100).rounded())
    return sample
}

@Suite("Alert evaluator")
struct AlertEvaluatorTests {
    @Test("an alert fires only after for_samples consecutive samples at or above the threshold")
    func firesAfterForSamples() throws {
        var ticker = Ticker()
        let ticks = ticker.memory([85.2, 90, 80])
        #expect(ticks[0..<2].allSatisfy { $0.transitions.isEmpty && $0.active.isEmpty })
        let fired = try #require(ticks[2].transitions.first)
        #expect(ticks[2].transitions.count == 1)
        #expect(fired.state == .firing)
        #expect(fired.atUnixMs == ticker.now)
        #expect(fired.alert.component == "ollama")
        #expect(fired.alert.clientID == "tenant-a")
        #expect(fired.alert.alertType == .highMemoryUsage)
        #expect(fired.alert.severity == .warning)
        #expect(fired.alert.valueCenti == 8000 && fired.alert.thresholdCenti == 8000)
        #expect(fired.alert.sinceUnixMs == ticker.now)
        #expect(fired.alert.message == "ollama memory at 80.0% (threshold 80%)")
        #expect(ticks[2].active == [fired.alert])
    }

    @Test("a sample below the threshold restarts the count towards firing")
    func dipRestartsCount() {
        var ticker = Ticker()
        let ticks = ticker.memory([85, 85, 79.99, 85, 85])
        #expect(ticks.allSatisfy { $0.transitions.isEmpty })
        #expect(ticker.memory([85]).first?.transitions.count == 1)
    }

    @Test("the message shows the value to one decimal and the threshold as configured")
    func messageWording() throws {
        var ticker = Ticker(AlertThresholds(memoryThresholdPercent: 80.5, forSamples: 1))
        let fired = try #require(ticker.memory([85.24]).first?.transitions.first)
        #expect(fired.alert.message == "ollama memory at 85.2% (threshold 80.5%)")
        #expect(AlertMessage.threshold(8025) == "80.25")
        #expect(AlertMessage.threshold(8005) == "80.05")
        #expect(AlertMessage.value(8596) == "86.0")
    }

    @Test("a value hovering between threshold minus hysteresis and the threshold does not flap")
    func noFlappingInsideHysteresis() {
        var ticker = Ticker()
        _ = ticker.memory([85, 85, 85])
        let hovering = ticker.memory([78, 81, 75, 79.5, 80, 76])
        #expect(hovering.allSatisfy { $0.transitions.isEmpty })
        #expect(hovering.allSatisfy { $0.active.count == 1 && $0.active[0].severity == .warning })
        #expect(hovering.last?.active.first?.valueCenti == 7600)
    }

    @Test("a firing alert resolves on the first sample below threshold minus hysteresis")
    func resolves() throws {
        var ticker = Ticker()
        _ = ticker.memory([85, 85, 85])
        let since = ticker.now
        let tick = try #require(ticker.memory([74.9]).first)
        let resolved = try #require(tick.transitions.first)
        #expect(tick.transitions.map(\.state) == [.resolved])
        #expect(resolved.atUnixMs == ticker.now)
        #expect(resolved.alert.alertType == .highMemoryUsage)
        #expect(resolved.alert.valueCenti == 7490)
        #expect(resolved.alert.sinceUnixMs == since)
        #expect(resolved.alert.message == "ollama memory back to 74.9% (threshold 80%)")
        #expect(tick.active.isEmpty)
        // Firing again takes a fresh for_samples run.
        #expect(ticker.memory([85, 85]).allSatisfy { $0.transitions.isEmpty })
        #expect(ticker.memory([85]).first?.transitions.first?.alert.sinceUnixMs == ticker.now)
    }

    @Test("severity escalates at the critical level and de-escalates below critical minus hysteresis")
    func escalation() throws {
        var ticker = Ticker()
        _ = ticker.memory([85, 85, 85])
        let since = ticker.now

        let escalated = try #require(ticker.memory([96.1]).first)
        let up = try #require(escalated.transitions.first)
        #expect(escalated.transitions.count == 1)
        #expect(up.state == .firing)
        #expect(up.alert.severity == .critical)
        #expect(up.alert.thresholdCenti == 9500)
        #expect(up.alert.sinceUnixMs == since)
        #expect(up.alert.message == "ollama memory at 96.1% (critical threshold 95%)")
        #expect(escalated.active == [up.alert])

        // Between critical minus hysteresis (90) and critical (95): stays critical.
        let held = ticker.memory([94, 90])
        #expect(held.allSatisfy { $0.transitions.isEmpty && $0.active.first?.severity == .critical })

        let deescalated = try #require(ticker.memory([89]).first)
        let down = try #require(deescalated.transitions.first)
        #expect(down.state == .firing)
        #expect(down.alert.severity == .warning)
        #expect(down.alert.thresholdCenti == 8000)
        #expect(down.alert.sinceUnixMs == since)
        #expect(deescalated.active.first?.sinceUnixMs == since)
    }

    @Test("an alert first seen at the critical level fires critical and resolves in one transition")
    func firesAndResolvesCritical() throws {
        var ticker = Ticker()
        let fired = try #require(ticker.memory([99, 99, 99])[2].transitions.first)
        #expect(fired.alert.severity == .critical && fired.alert.thresholdCenti == 9500)
        let tick = try #require(ticker.memory([10]).first)
        #expect(tick.transitions.map(\.state) == [.resolved])
        #expect(tick.transitions.first?.alert.severity == .critical)
    }

    @Test("a lower cpu threshold on one component applies to that component only")
    func perComponentOverride() throws {
        var ticker = Ticker(
            AlertThresholds(forSamples: 1),
            overrides: ["ollama": AlertThresholdOverrides(cpuThresholdPercent: 50)]
        )
        #expect(ticker.evaluator.thresholds(for: "ollama").cpuThresholdPercent == 50)
        #expect(ticker.evaluator.thresholds(for: "redis").cpuThresholdPercent == 80)
        let tick = ticker.tick([sample("ollama", cpu: 60), sample("redis", cpu: 60)])
        let fired = try #require(tick.transitions.first)
        #expect(tick.transitions.count == 1)
        #expect(fired.alert.component == "ollama")
        #expect(fired.alert.alertType == .highCpuUsage)
        #expect(fired.alert.thresholdCenti == 5000)
        #expect(fired.alert.message == "ollama cpu at 60.0% (threshold 50%)")
    }

    @Test("a configured component's alerts overrides apply through the config initializer")
    func overrideFromComponentConfig() {
        let overrides = AlertThresholdOverrides(cpuThresholdPercent: 50)
        let ollama = ComponentConfig(name: "ollama", processName: "ollama", alerts: overrides)
        let redis = ComponentConfig(name: "redis", processName: "redis-server")
        var ticker = Ticker(AlertThresholds(forSamples: 1), components: [ollama, redis])
        let tick = ticker.tick([sample("ollama", cpu: 60), sample("redis", cpu: 60)])
        #expect(tick.active.map(\.component) == ["ollama"])
    }

    @Test("component_down fires after for_samples down ticks and resolves when the component is back")
    func componentDown() throws {
        var ticker = Ticker()
        let downTicks = (0..<3).map { _ in ticker.tick([sample("ollama", status: .down)]) }
        #expect(downTicks[0].transitions.isEmpty && downTicks[1].transitions.isEmpty)
        let fired = try #require(downTicks[2].transitions.first)
        #expect(fired.state == .firing)
        #expect(fired.alert.alertType == .componentDown)
        #expect(fired.alert.severity == .critical)
        #expect(fired.alert.sinceUnixMs == ticker.now)
        #expect(fired.alert.message == "ollama is down")
        let since = ticker.now
        #expect(ticker.tick([sample("ollama", status: .down)]).active.map(\.alertType) == [.componentDown])

        let back = ticker.tick([sample("ollama")])
        let resolved = try #require(back.transitions.first)
        #expect(back.transitions.count == 1)
        #expect(resolved.state == .resolved)
        #expect(resolved.alert.alertType == .componentDown)
        #expect(resolved.alert.sinceUnixMs == since)
        #expect(resolved.atUnixMs == ticker.now)
        #expect(back.active.isEmpty)
    }

    @Test("a component missing from the samples counts as down, with its last known tenant")
    func missingComponentIsDown() throws {
        var ticker = Ticker()
        _ = ticker.tick([sample("ollama", clientID: "tenant-b"), sample("redis")])
        let missing = (0..<3).map { _ in ticker.tick([sample("redis")]) }
        #expect(missing[1].transitions.isEmpty)
        let fired = try #require(missing[2].transitions.first)
        #expect(fired.alert.component == "ollama")
        #expect(fired.alert.clientID == "tenant-b")
        #expect(fired.alert.alertType == .componentDown)
        let back = ticker.tick([sample("redis"), sample("ollama", clientID: "tenant-b")])
        #expect(back.transitions.map(\.state) == [.resolved])
        #expect(back.active.isEmpty)
    }

    @Test("a configured component that never shows up is reported down")
    func configuredButNeverSeen() {
        var ticker = Ticker(
            AlertThresholds(forSamples: 2),
            components: [ComponentConfig(name: "ghost", clientID: "tenant-c", processName: "ghost")]
        )
        #expect(ticker.tick([]).transitions.isEmpty)
        let tick = ticker.tick([])
        #expect(tick.active.map(\.alertType) == [.componentDown])
        #expect(tick.active.first?.clientID == "tenant-c")
    }

    @Test("resource alerts resolve when the component goes down and do not fire while it is down")
    func downClearsResourceAlerts() throws {
        var ticker = Ticker()
        _ = ticker.memory([90, 90, 90])
        let wentDown = ticker.tick([sample("ollama", memory: 90, status: .down)])
        let resolved = try #require(wentDown.transitions.first)
        #expect(wentDown.transitions.map(\.state) == [.resolved])
        #expect(resolved.alert.alertType == .highMemoryUsage)
        #expect(resolved.alert.message == "ollama is down; memory alert resolved")
        let stillDown = (0..<3).map { _ in ticker.tick([sample("ollama", memory: 90, status: .down)]) }
        #expect(stillDown.last?.active.map(\.alertType) == [.componentDown])
        // Back up, usage needs a fresh for_samples run before it fires again.
        let back = ticker.memory([90, 90])
        #expect(back[0].transitions.map(\.alert.alertType) == [.componentDown])
        #expect(back.allSatisfy { $0.active.isEmpty })
    }

    @Test("the active set rides in every evaluation, sorted by component then alert type")
    func activeSetEveryTick() {
        var ticker = Ticker(AlertThresholds(forSamples: 1))
        let busy = [sample("redis", cpu: 90), sample("ollama", cpu: 85, memory: 90)]
        #expect(ticker.tick(busy, disk: ["ollama": 93]).transitions.count == 4)
        for _ in 0..<3 {
            let quiet = ticker.tick(busy.reversed(), disk: ["ollama": 93])
            #expect(quiet.transitions.isEmpty)
            #expect(quiet.active.map(\.component) == ["ollama", "ollama", "ollama", "redis"])
            #expect(quiet.active.map(\.alertType) == [.highCpuUsage, .highMemoryUsage, .highDiskUsage, .highCpuUsage])
            #expect(quiet.active == ticker.evaluator.active)
        }
    }

    @Test("a disk alert comes from the disk percent input and holds on ticks without a figure")
    func diskAlert() throws {
        var ticker = Ticker(AlertThresholds(forSamples: 2))
        #expect(ticker.tick([sample("db")], disk: ["db": 91.5]).transitions.isEmpty)
        let fired = try #require(ticker.tick([sample("db")], disk: ["db": 92]).transitions.first)
        #expect(fired.alert.alertType == .highDiskUsage)
        #expect(fired.alert.thresholdCenti == 9000)
        #expect(fired.alert.message == "db disk at 92.0% (threshold 90%)")
        let gap = ticker.tick([sample("db")])
        #expect(gap.transitions.isEmpty)
        #expect(gap.active.first?.valueCenti == 9200)
        #expect(ticker.tick([sample("db")], disk: ["db": 50]).transitions.map(\.state) == [.resolved])
    }

    @Test("a sample whose status is unknown changes nothing")
    func unknownStatusHolds() {
        var ticker = Ticker(AlertThresholds(forSamples: 2))
        _ = ticker.tick([sample("ollama", memory: 90)])
        #expect(ticker.tick([sample("ollama", memory: 10, status: .unknown)]).transitions.isEmpty)
        #expect(ticker.tick([sample("ollama", memory: 90)]).transitions.count == 1)
    }

    @Test("healthy components with an active alert are marked degraded; down stays down")
    func degradedStatus() {
        var ticker = Ticker(AlertThresholds(forSamples: 1))
        var samples = [sample("ollama", memory: 90), sample("redis"), sample("worker", status: .down)]
        let evaluation = ticker.tick(samples)
        AlertEvaluator.applyingStatus(to: &samples, active: evaluation.active)
        #expect(samples.map(\.status) == [.degraded, .healthy, .down])
        #expect(evaluation.active.map(\.component) == ["ollama", "worker"])
    }

    @Test("restored from the last batch's active set, an alert is neither fired again nor forgotten: it resolves once")
    func restoredAlertsResolveOnce() throws {
        let components = [ComponentConfig(name: "ollama", clientID: "tenant-a", processName: "ollama")]
        var before = Ticker(AlertThresholds(forSamples: 3), components: components)
        _ = before.memory([85, 85, 85])
        let active = before.evaluator.active
        try #require(active.count == 1 && active[0].alertType == .highMemoryUsage)

        // The restarted agent: a new evaluator, restored from that set.
        var after = Ticker(AlertThresholds(forSamples: 3), components: components)
        after.now = before.now
        after.evaluator.restore(active: active)
        #expect(after.evaluator.active == active)
        let still = after.memory([86, 87])
        #expect(still.allSatisfy { $0.transitions.isEmpty }, "fired again after the restart")
        let resolved = try #require(after.memory([10]).first?.transitions.first)
        #expect(resolved.state == .resolved && resolved.alert.sinceUnixMs == active[0].sinceUnixMs)
        // An alert of a component not known at restore (no longer configured, or discovered and
        // not back): not active, and resolved on the first tick, so its firing gets its resolved.
        var other = Ticker(AlertThresholds(forSamples: 3), components: [])
        other.evaluator.restore(active: active)
        #expect(other.evaluator.active.isEmpty)
        let first = other.tick([])
        #expect(first.transitions.map(\.state) == [.resolved] && first.transitions.first?.alert.component == "ollama")
        #expect(other.tick([]).transitions.isEmpty, "resolved once")
        // One that is sampled on the first tick (a discovered service found again) is taken up.
        var found = Ticker(AlertThresholds(forSamples: 3), components: [])
        found.evaluator.restore(active: active)
        let again = found.memory([86])
        #expect(again.allSatisfy { $0.transitions.isEmpty } && found.evaluator.active.count == 1)
    }

    @Test("a restart during for_samples: the count goes on from the last batch's pending alerts")
    func pendingCountsSurviveARestart() throws {
        let components = [
            ComponentConfig(name: "ollama", clientID: "tenant-a", processName: "ollama"),
            ComponentConfig(name: "worker", clientID: "tenant-a", processName: "worker"),
        ]
        var before = Ticker(AlertThresholds(forSamples: 3), components: components)
        // Two of three: ollama's memory high, worker missing (down).
        for _ in 0..<2 { _ = before.tick([sample("ollama", memory: 85)]) }
        #expect(before.evaluator.active.isEmpty)
        let pending = before.evaluator.pending
        #expect(
            pending.map { "\($0.component) \($0.alertType) \($0.consecutiveSamples)" } == [
                "ollama highMemoryUsage 2", "worker componentDown 2",
            ]
        )

        // The restarted agent takes the counts up: the third sample fires both.
        var after = Ticker(AlertThresholds(forSamples: 3), components: components)
        after.now = before.now
        after.evaluator.restore(active: [])
        after.evaluator.restore(pending: pending)
        let fired = after.tick([sample("ollama", memory: 85)])
        #expect(
            fired.transitions.map { "\($0.alert.component) \($0.alert.alertType) \($0.state)" } == [
                "ollama highMemoryUsage firing", "worker componentDown firing",
            ]
        )
        // Without them the count starts again: nothing fires on that sample.
        var fresh = Ticker(AlertThresholds(forSamples: 3), components: components)
        #expect(fresh.tick([sample("ollama", memory: 85)]).transitions.isEmpty)
        // A pending count never overrides a restored firing alert, and a component no longer
        // configured is left out.
        var firing = Ticker(AlertThresholds(forSamples: 3), components: components)
        _ = firing.memory([85, 85, 85])
        var restored = Ticker(AlertThresholds(forSamples: 3), components: components)
        restored.evaluator.restore(active: firing.evaluator.active)
        restored.evaluator.restore(pending: pending)
        #expect(restored.evaluator.active == firing.evaluator.active)
        var other = Ticker(AlertThresholds(forSamples: 3), components: [])
        other.evaluator.restore(pending: pending)
        #expect(other.evaluator.pending.isEmpty)
    }
}
