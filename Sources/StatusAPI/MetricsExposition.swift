import Prometheus
import WatcherModel
import WatcherProto

/// `:5221/metrics` in the Prometheus text format (DESIGN §8): the seed's metric names with
/// `client_id` and `component` (or `model`) labels, in DESIGN §3 units stated in every HELP
/// line, plus the agent's own health. Built by swift-prometheus from a fresh registry on every
/// scrape, so components and sinks that are gone leave no stale series.
public enum MetricsExposition {
    public static func text(state: StatusState) -> [UInt8] {
        let registry = PrometheusCollectorRegistry()
        let now = RFC3339.nowUnixMilliseconds()

        let batch = state.latestSample()
        let samples = batch?.components ?? []
        for metric in SeedMetrics.components {
            for sample in samples where sample.status == .healthy || sample.status == .degraded {
                registry.gauge(
                    name: metric.name,
                    labels: [("client_id", sample.clientID), ("component", sample.name)],
                    help: metric.help
                ).set(metric.value(sample))
            }
        }
        for sample in samples {
            registry.gauge(
                name: "resource_watcher_component_up",
                labels: [("client_id", sample.clientID), ("component", sample.name)],
                help:
                    "1 when the component was found and sampled at the last tick, 0 when it is down or not sampled yet"
            ).set(sample.status == .healthy || sample.status == .degraded ? 1.0 : 0.0)
        }
        for alert in batch?.activeAlerts ?? [] {
            registry.gauge(
                name: "resource_watcher_alert_active",
                labels: [
                    ("alert_type", alert.alertType.apiName), ("client_id", alert.clientID),
                    ("component", alert.component), ("severity", alert.severity.apiName),
                ],
                help: "1 for every alert active at the last tick"
            ).set(1.0)
        }

        // The seed's names for model usage end in `_count` and lack `_total`, which promtool's
        // lint refuses for counters and gauges; as `untyped` they keep the seed's names and pass.
        let models = state.usage.snapshot()
        var untyped: [(name: String, help: String, samples: [(labels: [(String, String)], value: Double)])] = []
        for series in SeedMetrics.models
        where series.exposition == .untyped && !untyped.contains(where: { $0.name == series.name }) {
            untyped.append((series.name, series.help, []))
        }
        for model in models {
            let labels = [("client_id", model.clientID), ("model", model.name), ("provider", model.provider)]
            for series in SeedMetrics.models {
                switch series.exposition {
                case .untyped:
                    guard let index = untyped.firstIndex(where: { $0.name == series.name }) else { continue }
                    untyped[index].samples.append((labels + series.extraLabels, series.value(model)))
                case .gauge:
                    registry.gauge(name: series.name, labels: labels + series.extraLabels, help: series.help)
                        .set(series.value(model))
                }
            }
        }

        let statistics = state.spool.statistics()
        registry.gauge(name: "resource_watcher_spool_bytes", help: "Bytes the spool occupies on disk")
            .set(Double(statistics.totalBytes))
        registry.gauge(name: "resource_watcher_spool_max_bytes", help: "The spool's cap in bytes (spool.max_bytes)")
            .set(Double(state.config.spool.maxBytes))
        registry.gauge(name: "resource_watcher_spool_segments", help: "Segment files in the spool")
            .set(Double(statistics.segmentCount))
        registry.counter(
            name: "resource_watcher_spool_records_appended_total",
            help: "Records appended to the spool since the agent started"
        )
        .increment(by: Int64(statistics.appendedRecords))
        registry.gauge(name: "resource_watcher_spool_last_sequence", help: "Sequence number of the newest spool record")
            .set(Double(statistics.lastSequence))
        for (reason, count) in statistics.droppedAppends.sorted(by: { $0.key < $1.key }) {
            registry.counter(
                name: "resource_watcher_spool_dropped_appends_total",
                labels: [("reason", reason)],
                help: "Records the spool could not store (disk full, ...), by reason"
            )
            .increment(by: Int64(count))
        }

        for sink in state.sinkSnapshots(nowUnixMilliseconds: now) {
            let labels = [("sink", sink.name)]
            registry.gauge(
                name: "resource_watcher_sink_lag_records",
                labels: labels,
                help: "Spool records not yet delivered by the sink"
            )
            .set(Double(sink.lagRecords))
            registry.gauge(
                name: "resource_watcher_sink_lag_seconds",
                labels: labels,
                help: "Age in seconds of the oldest record the sink has not delivered; 0 when caught up"
            )
            .set(sink.lagSeconds)
            registry.counter(
                name: "resource_watcher_sink_sent_requests_total",
                labels: labels,
                help: "Requests the sink's destination acknowledged with 2xx"
            )
            .increment(by: Int64(sink.sentRequests))
            registry.counter(
                name: "resource_watcher_sink_sent_items_total",
                labels: labels + [("unit", sink.itemName)],
                help: "Items (samples, log lines or posts) in acknowledged requests"
            )
            .increment(by: Int64(sink.sentItems))
            registry.counter(
                name: "resource_watcher_sink_failed_attempts_total",
                labels: labels,
                help: "Attempts that did not deliver: network errors, timeouts, 5xx, 429 and rejected 4xx"
            )
            .increment(by: Int64(sink.failedAttempts))
            registry.counter(
                name: "resource_watcher_sink_retries_total",
                labels: labels,
                help: "Attempts followed by a retry after backoff"
            )
            .increment(by: Int64(sink.retries))
            for (reason, count) in sink.droppedRequests.sorted(by: { $0.key < $1.key }) {
                registry.counter(
                    name: "resource_watcher_sink_dropped_requests_total",
                    labels: labels + [("reason", reason)],
                    help: "Requests given up on because the destination rejected them, by reason"
                )
                .increment(by: Int64(count))
            }
            registry.gauge(
                name: "resource_watcher_sink_last_success_timestamp_seconds",
                labels: labels,
                help: "Unix time in seconds of the sink's last acknowledged request; 0 before the first"
            )
            .set(Double(sink.lastSuccessUnixMilliseconds ?? 0) / 1000)
            registry.gauge(
                name: "resource_watcher_sink_failing",
                labels: labels,
                help: "1 while the sink's destination is failing (the last attempt got no acceptable answer)"
            )
            .set(sink.isFailing ? 1.0 : 0.0)
        }

        let ticks = state.ticks.snapshot()
        registry.gauge(
            name: "resource_watcher_tick_duration_seconds",
            help: "Duration in seconds of the sampler's last tick"
        )
        .set(ticks.lastDurationSeconds)
        registry.counter(name: "resource_watcher_ticks_total", help: "Sampler ticks since the agent started")
            .increment(by: Int64(ticks.ticks))
        registry.gauge(name: "resource_watcher_start_time_seconds", help: "Unix time in seconds the agent started")
            .set(Double(state.startedUnixMilliseconds) / 1000)
        registry.gauge(
            name: "resource_watcher_build_info",
            labels: [("version", state.version)],
            help: "Always 1; the version label names the agent's build"
        )
        .set(1.0)

        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        for metric in untyped where !metric.samples.isEmpty {
            buffer.append(contentsOf: "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) untyped\n".utf8)
            for sample in metric.samples {
                let labels = sample.labels.map { "\($0.0)=\"\(escapeLabelValue($0.1))\"" }.joined(separator: ",")
                buffer.append(contentsOf: "\(metric.name){\(labels)} \(sample.value)\n".utf8)
            }
        }
        return buffer
    }
}

/// A label value as the text format writes it: backslash, double quote and newline escaped.
func escapeLabelValue(_ value: String) -> String {
    // Over bytes, not Characters: "\r\n" is one Character, and its "\n" must still be escaped.
    var escaped: [UInt8] = []
    escaped.reserveCapacity(value.utf8.count)
    for byte in value.utf8 {
        switch byte {
        case UInt8(ascii: "\\"): escaped += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
        case UInt8(ascii: "\""): escaped += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
        case UInt8(ascii: "\n"): escaped += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
        default: escaped.append(byte)
        }
    }
    return String(decoding: escaped, as: UTF8.self)
}

extension PrometheusCollectorRegistry {
    /// A gauge whose full name is `name` (no namespace or unit suffix added) with a HELP line.
    fileprivate func gauge(name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// A counter whose full name is `name` with a HELP line.
    fileprivate func counter(name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }
}
