import WatcherProto

/// Where one resource alert of one component stands between ticks: a pure state machine fed one
/// value per tick.
///
/// - Fires after `forSamples` consecutive values at or above the warning level, with the
///   severity the firing value earns.
/// - Escalates to critical on the first value at or above the critical level: the `forSamples`
///   debounce was already paid when the alert fired, and waiting again would only delay the page.
/// - De-escalates on the first value below critical minus hysteresis.
/// - Resolves on the first value below warning minus hysteresis. The hysteresis band is the
///   debounce on the way down, so no second count is needed; a value hovering between the two
///   levels changes nothing.
struct ThresholdAlertState: Sendable, Equatable {
    /// A firing alert's severity and start; the start survives severity changes, since an
    /// escalation is the same alert getting worse, not a new one.
    struct Firing: Sendable, Equatable {
        var severity: ResourceWatcher_V1_Severity
        var sinceUnixMilliseconds: Int64
    }

    /// What a tick changed, for the evaluator to turn into a transition event.
    enum Change: Sendable, Equatable {
        /// Started firing.
        case fired(Firing)
        /// Still firing, with a new severity.
        case severityChanged(Firing)
        /// Stopped firing; the payload is what it was firing as.
        case resolved(Firing)
    }

    /// Values at or above the warning level in a row while quiet; zero while firing.
    private(set) var consecutiveAtOrAbove = 0
    /// Nil while quiet.
    private(set) var firing: Firing?
    /// The last value observed, reported by a firing alert on ticks without a new figure.
    private(set) var lastValueCenti: Int64 = 0

    /// Firing as `firing` since before a restart, last seen at `lastValueCenti`.
    static func restored(_ firing: Firing, lastValueCenti: Int64) -> ThresholdAlertState {
        var state = ThresholdAlertState()
        state.firing = firing
        state.lastValueCenti = lastValueCenti
        return state
    }

    /// Quiet, with `count` values at or above the warning level in a row before a restart.
    static func pending(consecutiveAtOrAbove count: Int) -> ThresholdAlertState {
        var state = ThresholdAlertState()
        state.consecutiveAtOrAbove = max(0, count)
        return state
    }

    /// Takes one tick's value and returns what changed, if anything.
    mutating func observe(valueCenti: Int64, levels: AlertLevels, nowUnixMilliseconds: Int64) -> Change? {
        lastValueCenti = valueCenti
        guard let current = firing else {
            guard valueCenti >= levels.warningCenti else {
                consecutiveAtOrAbove = 0
                return nil
            }
            consecutiveAtOrAbove += 1
            guard consecutiveAtOrAbove >= levels.forSamples else { return nil }
            consecutiveAtOrAbove = 0
            let started = Firing(
                severity: levels.severity(ofValueCenti: valueCenti),
                sinceUnixMilliseconds: nowUnixMilliseconds
            )
            firing = started
            return .fired(started)
        }
        if valueCenti < levels.resolveBelowCenti {
            firing = nil
            return .resolved(current)
        }
        var next = current
        if current.severity == .critical {
            if valueCenti < levels.deescalateBelowCenti { next.severity = .warning }
        } else {
            next.severity = levels.severity(ofValueCenti: valueCenti)
        }
        guard next != current else { return nil }
        firing = next
        return .severityChanged(next)
    }

    /// Forgets the count and resolves a firing alert: the component is down, so there is no
    /// usage to alert on (`component_down` says what is wrong instead).
    mutating func clear() -> Change? {
        consecutiveAtOrAbove = 0
        guard let current = firing else { return nil }
        firing = nil
        return .resolved(current)
    }
}
