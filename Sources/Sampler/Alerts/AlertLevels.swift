import WatcherModel
import WatcherProto

/// One resource alert's levels in hundredths of a percent. Values and levels are compared as
/// integers so a value exactly at a threshold counts as "at or above" however the Double
/// percent of the configuration happens to round.
struct AlertLevels: Sendable, Equatable {
    /// At or above this the alert counts towards firing, as `warning`.
    var warningCenti: Int64
    /// At or above this a firing alert is `critical`.
    var criticalCenti: Int64
    /// How far below a level a value must fall to leave it; never negative.
    var hysteresisCenti: Int64
    /// Consecutive samples at or above `warningCenti` before the alert fires; at least 1.
    var forSamples: Int

    init(warningPercent: Double, thresholds: AlertThresholds) {
        warningCenti = Self.centi(warningPercent)
        criticalCenti = Self.centi(thresholds.criticalThresholdPercent)
        hysteresisCenti = max(0, Self.centi(thresholds.hysteresisPercent))
        // Zero or negative would mean "fire before seeing anything"; one sample is the least.
        forSamples = max(1, thresholds.forSamples)
    }

    /// A firing alert resolves on a value below this.
    var resolveBelowCenti: Int64 { warningCenti - hysteresisCenti }

    /// A critical alert returns to warning on a value below this.
    var deescalateBelowCenti: Int64 { criticalCenti - hysteresisCenti }

    /// The severity a value earns on its own, ignoring hysteresis: used when an alert first fires
    /// and to escalate.
    func severity(ofValueCenti valueCenti: Int64) -> ResourceWatcher_V1_Severity {
        valueCenti >= criticalCenti ? .critical : .warning
    }

    /// The level an alert of `severity` has crossed, as reported in `threshold_centi`.
    func thresholdCenti(for severity: ResourceWatcher_V1_Severity) -> Int64 {
        severity == .critical ? criticalCenti : warningCenti
    }

    /// `percent` in hundredths, rounded; non-finite or absurd values are clamped rather than
    /// trapping, since a bad figure must not bring the agent down.
    static func centi(_ percent: Double) -> Int64 {
        guard percent.isFinite else { return percent > 0 ? Int64.max / 2 : 0 }
        let clamped = min(max(percent, -1e12), 1e12)
        return Int64((clamped * 100).rounded())
    }
}
