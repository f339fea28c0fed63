import WatcherModel
import WatcherProto

/// Everything the evaluator remembers about one component between ticks, and the step that
/// turns one tick's sample into transition events.
struct ComponentAlertState: Sendable {
    /// The component's name, the `component` of its alerts.
    let name: String
    /// The tenant, from the latest sample (or the configuration before the first one).
    var clientID: String
    private var resources: [AlertResource: ThresholdAlertState] = [:]
    private var down = DownAlertState()

    init(name: String, clientID: String) {
        self.name = name
        self.clientID = clientID
    }

    /// One tick. `sample` is nil when the component is missing from the tick, which counts as
    /// down; `diskUsedPercent` is nil when there is no disk figure, which holds the disk alert
    /// as it is (the figure comes from a slower walk, and a gap is not a recovery).
    mutating func evaluate(
        sample: ResourceWatcher_V1_ComponentSample?,
        diskUsedPercent: Double?,
        thresholds: AlertThresholds,
        nowUnixMilliseconds now: Int64
    ) -> [ResourceWatcher_V1_AlertTransition] {
        if let sample, !sample.clientID.isEmpty { clientID = sample.clientID }
        // Not sampled yet is no evidence either way: change nothing.
        if sample?.status == .unknown { return [] }
        let running = sample.flatMap { $0.status == .down ? nil : $0 }
        let isDown = running == nil

        var transitions: [ResourceWatcher_V1_AlertTransition] = []
        for resource in AlertResource.allCases {
            let levels = resource.levels(from: thresholds)
            let change: ThresholdAlertState.Change?
            if let running {
                guard let value = resource.valueCenti(in: running, diskUsedPercent: diskUsedPercent) else { continue }
                change = resources[resource, default: ThresholdAlertState()]
                    .observe(valueCenti: value, levels: levels, nowUnixMilliseconds: now)
            } else {
                change = resources[resource]?.clear()
            }
            guard let change else { continue }
            transitions.append(transition(for: change, of: resource, levels: levels, componentDown: isDown, at: now))
        }

        let downChange = down.observe(isDown: isDown, forSamples: thresholds.forSamples, nowUnixMilliseconds: now)
        switch downChange {
        case .fired:
            let alert = downAlert(since: now, message: AlertMessage.down(component: name))
            transitions.append(Self.transition(.firing, alert, at: now))
        case .resolved(let since):
            let alert = downAlert(since: since, message: AlertMessage.up(component: name))
            transitions.append(Self.transition(.resolved, alert, at: now))
        case nil:
            break
        }
        return transitions
    }

    /// Takes up `alert` as firing, as it was in the last batch before a restart: the next tick
    /// neither fires it again nor forgets to resolve it.
    mutating func restore(_ alert: ResourceWatcher_V1_Alert, thresholds: AlertThresholds) {
        if !alert.clientID.isEmpty { clientID = alert.clientID }
        if alert.alertType == .componentDown {
            down = .restored(firingSince: alert.sinceUnixMs, forSamples: thresholds.forSamples)
            return
        }
        guard let resource = AlertResource.allCases.first(where: { $0.alertType == alert.alertType }) else { return }
        let firing = ThresholdAlertState.Firing(severity: alert.severity, sinceUnixMilliseconds: alert.sinceUnixMs)
        resources[resource] = .restored(firing, lastValueCenti: alert.valueCenti)
    }

    /// Takes up `pending`, an alert of this component counting toward `for_samples` in the last
    /// batch before a restart (one not firing: an active alert is restored by `restore`).
    mutating func restore(pending: ResourceWatcher_V1_PendingAlert) {
        let count = Int(pending.consecutiveSamples)
        if pending.alertType == .componentDown {
            if down.firingSinceUnixMilliseconds == nil { down = .pending(consecutiveDown: count) }
            return
        }
        guard let resource = AlertResource.allCases.first(where: { $0.alertType == pending.alertType }),
            resources[resource]?.firing == nil
        else { return }
        resources[resource] = .pending(consecutiveAtOrAbove: count)
    }

    /// The alerts counting toward `for_samples` after the last tick, in alert-type order.
    var pendingAlerts: [ResourceWatcher_V1_PendingAlert] {
        var counts: [(ResourceWatcher_V1_AlertType, Int)] = []
        for resource in AlertResource.allCases {
            guard let state = resources[resource], state.firing == nil, state.consecutiveAtOrAbove > 0 else { continue }
            counts.append((resource.alertType, state.consecutiveAtOrAbove))
        }
        if down.pendingCount > 0 { counts.append((.componentDown, down.pendingCount)) }
        return counts.map { type, count in
            var pending = ResourceWatcher_V1_PendingAlert()
            pending.component = name
            pending.alertType = type
            pending.consecutiveSamples = UInt32(clamping: count)
            return pending
        }
    }

    /// The alerts firing after the last tick, in alert-type order.
    func activeAlerts(thresholds: AlertThresholds) -> [ResourceWatcher_V1_Alert] {
        var alerts: [ResourceWatcher_V1_Alert] = []
        for resource in AlertResource.allCases {
            guard let state = resources[resource], let firing = state.firing else { continue }
            let levels = resource.levels(from: thresholds)
            alerts.append(resourceAlert(resource, firing, valueCenti: state.lastValueCenti, levels: levels))
        }
        if let since = down.firingSinceUnixMilliseconds {
            alerts.append(downAlert(since: since, message: AlertMessage.down(component: name)))
        }
        return alerts
    }

    private func transition(
        for change: ThresholdAlertState.Change,
        of resource: AlertResource,
        levels: AlertLevels,
        componentDown: Bool,
        at now: Int64
    ) -> ResourceWatcher_V1_AlertTransition {
        let value = resources[resource]?.lastValueCenti ?? 0
        switch change {
        case .fired(let firing), .severityChanged(let firing):
            return Self.transition(.firing, resourceAlert(resource, firing, valueCenti: value, levels: levels), at: now)
        case .resolved(let firing):
            var alert = resourceAlert(resource, firing, valueCenti: value, levels: levels)
            alert.message =
                componentDown
                ? AlertMessage.clearedByDown(component: name, resource: resource)
                : AlertMessage.recovered(
                    component: name,
                    resource: resource,
                    valueCenti: value,
                    thresholdCenti: levels.warningCenti
                )
            return Self.transition(.resolved, alert, at: now)
        }
    }

    private func resourceAlert(
        _ resource: AlertResource,
        _ firing: ThresholdAlertState.Firing,
        valueCenti: Int64,
        levels: AlertLevels
    ) -> ResourceWatcher_V1_Alert {
        var alert = ResourceWatcher_V1_Alert()
        alert.component = name
        alert.clientID = clientID
        alert.alertType = resource.alertType
        alert.severity = firing.severity
        alert.valueCenti = valueCenti
        alert.thresholdCenti = levels.thresholdCenti(for: firing.severity)
        alert.sinceUnixMs = firing.sinceUnixMilliseconds
        alert.message = AlertMessage.firing(
            component: name,
            resource: resource,
            valueCenti: valueCenti,
            thresholdCenti: alert.thresholdCenti,
            critical: firing.severity == .critical
        )
        return alert
    }

    /// `component_down` is always critical: nothing the component serves is being served. It has
    /// no percent, so value and threshold stay zero.
    private func downAlert(since: Int64, message: String) -> ResourceWatcher_V1_Alert {
        var alert = ResourceWatcher_V1_Alert()
        alert.component = name
        alert.clientID = clientID
        alert.alertType = .componentDown
        alert.severity = .critical
        alert.sinceUnixMs = since
        alert.message = message
        return alert
    }

    private static func transition(
        _ state: ResourceWatcher_V1_AlertTransition.State,
        _ alert: ResourceWatcher_V1_Alert,
        at now: Int64
    ) -> ResourceWatcher_V1_AlertTransition {
        var transition = ResourceWatcher_V1_AlertTransition()
        transition.state = state
        transition.alert = alert
        transition.atUnixMs = now
        return transition
    }
}
