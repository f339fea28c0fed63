public import Logging
import Synchronization

/// What the agent cut or refused of outside input (a scrape, `/api/ps`, a proxied client, a
/// usage post, a file), counted per component and reason for `:5221/metrics`
/// (`resource_watcher_source_limited_total{component,reason}`) and `/health`
/// (`source_limited`), and logged once per component and reason: an operator learns that a
/// bound was hit without a line per tick.
///
/// Reasons are short snake_case words naming the bound, e.g. `model_name_too_long`,
/// `loaded_models_over_limit`, `custom_metric_series_over_limit`, `scrape_body_too_large`,
/// `number_out_of_range`, `pid_file_refused`, `proxy_request_refused`.
public final class SourceLimits: Sendable {
    /// One (component, reason) pair and how often it was hit.
    public struct Count: Sendable, Equatable {
        public var component: String
        public var reason: String
        public var count: UInt64
    }

    private struct Key: Hashable {
        var component: String
        var reason: String
    }

    private let counts = Mutex<[Key: UInt64]>([:])
    private let logger: Logger

    public init(logger: Logger = Logger(label: "resource-watcher.limits")) {
        self.logger = logger
    }

    /// Counts `count` cuts of `reason` at `component`; the first one of each pair is logged at
    /// warning with `detail` (what was cut and the bound), later ones only counted.
    public func note(component: String, reason: String, count: UInt64 = 1, detail: @autoclosure () -> String) {
        guard count > 0 else { return }
        let isFirst = counts.withLock { counts in
            let key = Key(component: component, reason: reason)
            let before = counts[key]
            counts[key] = (before ?? 0).addingReportingOverflow(count).partialValue
            return before == nil
        }
        if isFirst {
            logger.warning(
                "outside input cut or refused; counted from now on without another log line",
                metadata: ["component": "\(component)", "reason": "\(reason)", "detail": "\(detail())"]
            )
        }
    }

    /// Bounds the name at `name` of every element of `values` (`BoundedName`) and counts the
    /// cut ones as `model_name_cut` at `component`.
    public func boundNames<Element>(
        _ values: inout [Element],
        at name: WritableKeyPath<Element, String>,
        component: String
    ) {
        var cut: UInt64 = 0
        for index in values.indices {
            let (bounded, wasCut) = BoundedName.bounded(values[index][keyPath: name])
            guard wasCut else { continue }
            values[index][keyPath: name] = bounded
            cut += 1
        }
        note(
            component: component,
            reason: "model_name_cut",
            count: cut,
            detail: "model names are kept to \(InputLimitsConfig.nameBytes) bytes of printable UTF-8"
        )
    }

    /// Every pair hit so far, sorted by component then reason.
    public func snapshot() -> [Count] {
        counts.withLock { counts in
            counts.map { Count(component: $0.key.component, reason: $0.key.reason, count: $0.value) }
        }
        .sorted { ($0.component, $0.reason) < ($1.component, $1.reason) }
    }

    /// The total for one pair (tests).
    public func count(component: String, reason: String) -> UInt64 {
        counts.withLock { $0[Key(component: component, reason: reason)] ?? 0 }
    }
}
