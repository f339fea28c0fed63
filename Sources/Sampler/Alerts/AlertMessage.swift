/// The short human sentences carried in `Alert.message`, e.g.
/// "ollama memory at 85.2% (threshold 80%)". Built by hand from integer hundredths so the text
/// is the same on every platform and never shows binary-float noise.
enum AlertMessage {
    /// A firing resource alert.
    static func firing(
        component: String,
        resource: AlertResource,
        valueCenti: Int64,
        thresholdCenti: Int64,
        critical: Bool
    ) -> String {
        let level = critical ? "critical threshold" : "threshold"
        return "\(component) \(resource.label) at \(value(valueCenti))% (\(level) \(threshold(thresholdCenti))%)"
    }

    /// A resource alert resolved because the value fell back.
    static func recovered(
        component: String,
        resource: AlertResource,
        valueCenti: Int64,
        thresholdCenti: Int64
    ) -> String {
        "\(component) \(resource.label) back to \(value(valueCenti))% (threshold \(threshold(thresholdCenti))%)"
    }

    /// A resource alert resolved because the component went down.
    static func clearedByDown(component: String, resource: AlertResource) -> String {
        "\(component) is down; \(resource.label) alert resolved"
    }

    /// `component_down` firing.
    static func down(component: String) -> String { "\(component) is down" }

    /// `component_down` resolved.
    static func up(component: String) -> String { "\(component) is back up" }

    /// An observed value: always one decimal, so a column of them lines up ("85.0", "85.2").
    static func value(_ centi: Int64) -> String {
        let sign = centi < 0 ? "-" : ""
        let tenths = (centi.magnitude + 5) / 10
        return "\(sign)\(tenths / 10).\(tenths % 10)"
    }

    /// A configured level: as few decimals as it was written with ("80", "80.5", "80.25").
    static func threshold(_ centi: Int64) -> String {
        let sign = centi < 0 ? "-" : ""
        let magnitude = centi.magnitude
        let whole = magnitude / 100
        let fraction = magnitude % 100
        if fraction == 0 { return "\(sign)\(whole)" }
        if fraction % 10 == 0 { return "\(sign)\(whole).\(fraction / 10)" }
        return "\(sign)\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
