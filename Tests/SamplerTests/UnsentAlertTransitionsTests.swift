import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

/// A batch whose append fails (disk full) must not take its alert transitions with it: the
/// next appended batch carries them, once (issue 25). Whole ticks on a real process; the spool
/// is a stand-in that refuses appends while `failing`, and its caller gives the refused batch
/// back to the composer as `SamplerService` does.
@Suite("Alert transitions across failed appends")
struct UnsentAlertTransitionsTests {
    /// The appends that succeeded, in order.
    private final class Destination {
        var stored: [ResourceWatcher_V1_Batch] = []
        var failing = false

        /// One tick's batch: stored, or refused and given back to `composer`.
        func append(_ batch: ResourceWatcher_V1_Batch, composer: TickComposer) {
            if failing { composer.notAppended(batch) } else { stored.append(batch) }
        }
    }

    /// A composer watching `/bin/sleep <duration>` as component `worker`.
    private func composer(
        duration: String,
        forSamples: Int,
        limits: SourceLimits = SourceLimits(),
        unsentLimit: Int = UnsentAlertTransitions.defaultLimit
    ) -> TickComposer {
        var config = Config()
        config.alerts.forSamples = forSamples
        config.components = [ComponentConfig(name: "worker", clientID: "tenant-a", cmdline: "^/bin/sleep \(duration)$")]
        return TickComposer(
            config: config,
            agentID: "test",
            dockerEngine: DockerEngine(socketPath: config.dockerSocket),
            sourceLimits: limits,
            unsentTransitionLimit: unsentLimit
        )
    }

    private func describe(_ transitions: [ResourceWatcher_V1_AlertTransition]) -> [String] {
        transitions.map {
            "\($0.state == .firing ? "firing" : "resolved") \($0.alert.alertType.apiName) @\($0.atUnixMs)"
        }
    }

    @Test("a firing and a resolved whose batches were not appended arrive in the next appended batch, exactly once")
    func transitionRidesInTheNextAppendedBatch() throws {
        let duration = "600.\(UInt32.random(in: 0...UInt32.max))"  // unique, so the command line is ours
        let composer = composer(duration: duration, forSamples: 2)
        let destination = Destination()
        var clock: Int64 = 1_000_000
        var batches: [ResourceWatcher_V1_Batch] = []
        func tick() {
            clock += 1000
            let batch = composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: clock)
            batches.append(batch)
            destination.append(batch, composer: composer)
        }

        var process = try ChildProcess("/bin/sleep", [duration])
        tick()
        process.kill()
        process.wait()
        destination.failing = true  // the disk fills as the worker dies
        tick()
        tick()  // the second down tick: component_down fires, and its batch is refused
        let firedAt = clock
        #expect(describe(batches.last!.transitions) == ["firing component_down @\(firedAt)"])
        tick()  // still refused: carried again
        destination.failing = false
        tick()
        tick()

        process = try ChildProcess("/bin/sleep", [duration])
        defer {
            process.kill()
            process.wait()
        }
        destination.failing = true
        tick()  // up again: resolved, refused
        let resolvedAt = clock
        destination.failing = false
        tick()
        tick()

        let stored = destination.stored
        #expect(stored.count == 5)
        #expect(
            describe(stored.flatMap(\.transitions)) == [
                "firing component_down @\(firedAt)", "resolved component_down @\(resolvedAt)",
            ]
        )
        // The first batch stored after each refusal carries the transition, before its own.
        #expect(describe(stored[1].transitions) == ["firing component_down @\(firedAt)"])
        #expect(describe(stored[3].transitions) == ["resolved component_down @\(resolvedAt)"])
        #expect(TickComposer.newTransitions(in: stored[1]).isEmpty, "carried, not new: logged when it happened")
        // The active set is right in every batch, whatever was refused before it.
        #expect(
            stored.map { $0.activeAlerts.map(\.alertType.apiName) } == [
                [], ["component_down"], ["component_down"], [], [],
            ]
        )
    }

    @Test("past the bound, the oldest whole episodes waiting for an append are cut first, and counted")
    func boundCutsWholeEpisodes() throws {
        let duration = "600.\(UInt32.random(in: 0...UInt32.max))"
        let limits = SourceLimits(logger: .quiet())
        let composer = composer(duration: duration, forSamples: 1, limits: limits, unsentLimit: 3)
        let destination = Destination()
        var clock: Int64 = 2_000_000
        func tick() {
            clock += 1000
            destination.append(
                composer.composeBatch(intervalSeconds: 1, nowUnixMilliseconds: clock),
                composer: composer
            )
        }
        var process = try ChildProcess("/bin/sleep", [duration])
        defer {
            process.kill()
            process.wait()
        }
        tick()
        destination.failing = true
        var firings: [Int64] = []
        var resolutions: [Int64] = []
        // Three down episodes while nothing can be appended; the last is still open.
        for episode in 0..<3 {
            process.kill()
            process.wait()
            tick()
            firings.append(clock)
            if episode < 2 {
                process = try ChildProcess("/bin/sleep", [duration])
                tick()
                resolutions.append(clock)
            }
        }
        destination.failing = false
        tick()

        let carried = destination.stored.last?.transitions ?? []
        // Four queued past a bound of three: the first episode went whole, so no destination
        // hears of it at all, and none gets a resolved without its firing.
        #expect(
            describe(carried) == [
                "firing component_down @\(firings[1])", "resolved component_down @\(resolutions[1])",
                "firing component_down @\(firings[2])",
            ]
        )
        #expect(destination.stored.last?.activeAlerts.map(\.alertType) == [.componentDown])
        #expect(limits.count(component: "worker", reason: "alert_transitions_over_limit") == 2)
    }

    private func transition(
        _ state: ResourceWatcher_V1_AlertTransition.State,
        _ component: String,
        severity: ResourceWatcher_V1_Severity = .warning,
        since: Int64,
        at: Int64
    ) -> ResourceWatcher_V1_AlertTransition {
        var transition = ResourceWatcher_V1_AlertTransition()
        transition.state = state
        transition.alert.component = component
        transition.alert.clientID = "tenant-a"
        transition.alert.alertType = .highCpuUsage
        transition.alert.severity = severity
        transition.alert.sinceUnixMs = since
        transition.atUnixMs = at
        return transition
    }

    @Test("over the bound, a severity change a later transition supersedes goes before the oldest transition")
    func boundCutsSupersededSeverityChanges() {
        var queue = UnsentAlertTransitions(limit: 2)
        let started = transition(.firing, "a", since: 100, at: 100)
        let escalated = transition(.firing, "a", severity: .critical, since: 100, at: 200)
        let deescalated = transition(.firing, "a", since: 100, at: 300)
        #expect(queue.giveBack([started, escalated]).isEmpty)
        #expect(queue.giveBack([deescalated]) == [escalated])
        #expect(queue.transitions == [started, deescalated])
        // The episode's end makes it whole: all of it goes.
        #expect(queue.giveBack([transition(.resolved, "a", since: 100, at: 400)]).count == 3)
        #expect(queue.isEmpty)
        // Nothing whole, nothing superseded: the oldest goes.
        let ends = ["b", "c", "d"].enumerated().map { transition(.resolved, $1, since: 50, at: 500 + Int64($0)) }
        #expect(queue.giveBack(ends) == [ends[0]])
        #expect(queue.takeAll() == Array(ends.dropFirst()))
        #expect(queue.isEmpty)
    }
}
