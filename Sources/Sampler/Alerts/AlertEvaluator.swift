public import WatcherModel
public import WatcherProto

/// Decides, tick by tick, which alerts fire and resolve (DESIGN §5). A pure state machine: it
/// is handed each tick's samples and the time, and returns events; it never reads a clock or
/// sleeps, so tests drive it tick by tick.
///
/// Rules, per component and resource (thresholds are the global ones with the component's
/// overrides applied):
/// - `high_cpu_usage`, `high_memory_usage`, `high_disk_usage` fire after `for_samples`
///   consecutive samples at or above the threshold, as `warning`, or `critical` when the value
///   is at or above `critical_threshold_percent`.
/// - Once firing, an alert escalates to `critical` on the first sample at the critical level,
///   de-escalates on the first below critical minus `hysteresis_percent`, and resolves on the
///   first below threshold minus `hysteresis_percent`; both are transition events. A value
///   between threshold minus hysteresis and the threshold changes nothing, so it cannot flap.
///   `since_unix_ms` is kept across severity changes.
/// - A component reported `down`, or missing from the tick's samples once it is known, is down:
///   `component_down` (always `critical`) fires after `for_samples` consecutive down ticks and
///   resolves on the first tick it is seen up. Its resource alerts resolve on the first down
///   tick, since a down component has no usage to alert on.
/// - A sample with status `unknown` (not sampled yet) changes nothing; nor does a missing disk
///   figure change the disk alert (the figure comes from a slower walk; a gap is not a recovery).
public struct AlertEvaluator: Sendable {
    private let global: AlertThresholds
    private let thresholdsByComponent: [String: AlertThresholds]
    private var components: [String: ComponentAlertState] = [:]
    /// Alerts restored for components not known at restore time (discovered ones): taken up if
    /// the component is in the first tick's samples, else resolved then, so every `firing`
    /// still gets its `resolved` downstream.
    private var orphans: [ResourceWatcher_V1_Alert] = []

    /// An evaluator with global thresholds and per-component overrides keyed by component name.
    /// Components are learnt from the samples: one that never appears is never reported down.
    public init(global: AlertThresholds, overrides: [String: AlertThresholdOverrides] = [:]) {
        self.global = global
        thresholdsByComponent = overrides.mapValues { global.applying($0) }
    }

    /// An evaluator for configured components: each one's `alerts` overrides apply, and each is
    /// known from the start, so one missing from every tick still raises `component_down`.
    /// `alsoKnown` are further components known from the start (the host, under the agent's
    /// tenant), with the global thresholds.
    public init(
        global: AlertThresholds,
        components: [ComponentConfig],
        alsoKnown: [(name: String, clientID: String)] = []
    ) {
        var overrides: [String: AlertThresholdOverrides] = [:]
        for component in components where !component.alerts.isEmpty { overrides[component.name] = component.alerts }
        self.init(global: global, overrides: overrides)
        for component in components where self.components[component.name] == nil {
            self.components[component.name] = ComponentAlertState(name: component.name, clientID: component.clientID)
        }
        for known in alsoKnown where self.components[known.name] == nil {
            self.components[known.name] = ComponentAlertState(name: known.name, clientID: known.clientID)
        }
    }

    /// Forgets `component` (a discovered service dropped after its grace period): its active
    /// alerts resolve now, as transitions, and it is no longer reported down.
    public mutating func forget(
        component name: String,
        nowUnixMilliseconds: Int64
    )
        -> [ResourceWatcher_V1_AlertTransition]
    {
        guard let state = components.removeValue(forKey: name) else { return [] }
        return state.activeAlerts(thresholds: thresholds(for: name)).map {
            Self.resolution(of: $0, at: nowUnixMilliseconds)
        }
    }

    private static func resolution(
        of alert: ResourceWatcher_V1_Alert,
        at now: Int64
    )
        -> ResourceWatcher_V1_AlertTransition
    {
        var resolved = alert
        resolved.message = "\(alert.component) is no longer watched: its \(alert.alertType.apiName) alert is resolved"
        var transition = ResourceWatcher_V1_AlertTransition()
        transition.state = .resolved
        transition.alert = resolved
        transition.atUnixMs = now
        return transition
    }

    /// The thresholds that apply to `component`: the global ones with its overrides applied.
    public func thresholds(for component: String) -> AlertThresholds {
        thresholdsByComponent[component] ?? global
    }

    /// Evaluates one tick.
    ///
    /// - Parameters:
    ///   - samples: this tick's samples; a known component absent from them counts as down. When
    ///     a name appears twice the first sample wins.
    ///   - diskUsedPercent: used percent of the filesystem holding each component's data, keyed
    ///     by component name; a component without an entry keeps its disk alert as it is.
    ///   - nowUnixMilliseconds: the tick's time, stamped on transitions and new alerts.
    public mutating func evaluate(
        samples: [ResourceWatcher_V1_ComponentSample],
        diskUsedPercent: [String: Double] = [:],
        nowUnixMilliseconds: Int64
    ) -> AlertEvaluation {
        var samplesByName: [String: ResourceWatcher_V1_ComponentSample] = [:]
        for sample in samples where samplesByName[sample.name] == nil {
            samplesByName[sample.name] = sample
            if components[sample.name] == nil {
                components[sample.name] = ComponentAlertState(name: sample.name, clientID: sample.clientID)
            }
        }
        var evaluation = AlertEvaluation()
        for alert in orphans {
            if var state = components[alert.component] {
                state.restore(alert, thresholds: thresholds(for: alert.component))
                components[alert.component] = state
            } else {
                evaluation.transitions.append(Self.resolution(of: alert, at: nowUnixMilliseconds))
            }
        }
        orphans = []
        // Sorted names make the output order stable, whatever order the samples came in.
        for name in components.keys.sorted() {
            let thresholds = thresholds(for: name)
            evaluation.transitions += components[name]!.evaluate(
                sample: samplesByName[name],
                diskUsedPercent: diskUsedPercent[name],
                thresholds: thresholds,
                nowUnixMilliseconds: nowUnixMilliseconds
            )
            evaluation.active += components[name]!.activeAlerts(thresholds: thresholds)
        }
        return evaluation
    }

    /// Starts from `active`, the active set of the last batch written before a restart, so a
    /// restart neither fires an active alert again (one `firing` per episode at the
    /// orchestrator and in Loki) nor forgets to resolve it. Alerts of components not known yet
    /// (discovered ones, or no longer configured) wait for the first tick: taken up if the
    /// component is sampled then, else resolved.
    public mutating func restore(active: [ResourceWatcher_V1_Alert]) {
        for alert in active {
            guard var state = components[alert.component] else {
                orphans.append(alert)
                continue
            }
            state.restore(alert, thresholds: thresholds(for: alert.component))
            components[alert.component] = state
        }
    }

    /// Takes up the alerts that were counting toward `for_samples` in the last batch before a
    /// restart (`pending_alerts`), so a restart does not start their count again. Call after
    /// `restore(active:)`; components no longer configured are left out.
    public mutating func restore(pending: [ResourceWatcher_V1_PendingAlert]) {
        for alert in pending {
            guard var state = components[alert.component] else { continue }
            state.restore(pending: alert)
            components[alert.component] = state
        }
    }

    /// Every alert counting toward `for_samples` after the last tick, ordered by component
    /// name, then alert type.
    public var pending: [ResourceWatcher_V1_PendingAlert] {
        components.keys.sorted().flatMap { components[$0]!.pendingAlerts }
    }

    /// Every alert firing after the last tick, ordered by component name, then alert type.
    public var active: [ResourceWatcher_V1_Alert] {
        components.keys.sorted().flatMap { components[$0]!.activeAlerts(thresholds: thresholds(for: $0)) }
    }
}
