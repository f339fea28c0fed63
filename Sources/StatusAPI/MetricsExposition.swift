import Prometheus
import Spool
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
                guard let value = metric.value(sample) else { continue }
                registry.gauge(
                    name: metric.name,
                    labels: [("client_id", sample.clientID), ("component", sample.name)],
                    help: metric.help
                ).set(value)
            }
        }
        for metric in SeedMetrics.gpus {
            for sample in samples {
                for gpu in sample.gpus {
                    guard let value = metric.value(gpu) else { continue }
                    registry.gauge(
                        name: metric.name,
                        labels: [("client_id", sample.clientID), ("component", sample.name)]
                            + SeedMetrics.gpuLabels(gpu),
                        help: metric.help
                    ).set(value)
                }
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

        // Model families are written by hand after the registry's output: the seed's names end
        // in `_count` without `_total` (untyped), and the histogram's buckets come from the totals.
        let models = state.usage.snapshot()
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
        // Every reason from zero, so `increase()` sees the first drop (a series that appears
        // with its first increment has nothing to increase from).
        let spoolZeros = SpoolError.Code.allCases.map { ($0.rawValue, UInt64(0)) }
        let droppedAppends = Dictionary(uniqueKeysWithValues: spoolZeros).merging(statistics.droppedAppends) { $1 }
        for (reason, count) in droppedAppends.sorted(by: { $0.key < $1.key }) {
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
            registry.counter(
                name: "resource_watcher_sink_lost_records_total",
                labels: labels,
                help: "Spool records the sink never read: deleted by the spool's size or age cap first, or damaged"
            )
            .increment(by: Int64(sink.lostRecords))
            let sinkZeros = SinkMetrics.knownDropReasons.map { ($0, UInt64(0)) }
            let droppedRequests = Dictionary(uniqueKeysWithValues: sinkZeros).merging(sink.droppedRequests) { $1 }
            for (reason, count) in droppedRequests.sorted(by: { $0.key < $1.key }) {
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

        for connections in [state.apiConnections, state.metricsConnections] {
            let (open, closed) = connections.snapshot()
            registry.gauge(
                name: "resource_watcher_http_connections",
                labels: [("server", connections.server)],
                help: "Connections open now on the agent's HTTP server (api on port, metrics on metrics_port)"
            )
            .set(Double(open))
            for reason in ConnectionRegistry.CloseReason.allCases {
                registry.counter(
                    name: "resource_watcher_http_connections_closed_total",
                    labels: [("server", connections.server), ("reason", reason.rawValue)],
                    help: "Connections the agent's HTTP server closed itself: a timeout, or over max_connections"
                )
                .increment(by: Int64(closed[reason] ?? 0))
            }
        }

        let ticks = state.ticks.snapshot()
        registry.gauge(
            name: "resource_watcher_tick_duration_seconds",
            help: "Duration in seconds of the sampler's last tick"
        )
        .set(ticks.lastDurationSeconds)
        registry.counter(name: "resource_watcher_ticks_total", help: "Sampler ticks since the agent started")
            .increment(by: Int64(ticks.ticks))
        registry.gauge(
            name: "resource_watcher_log_files_refused",
            help:
                "Configured log_files paths the agent refuses to read (symlink or hard link to another owner's file, FIFO, ...)"
        )
        .set(Double(state.ticks.logFilesRefused))
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
        appendModelFamilies(models, to: &buffer)
        appendComponentExtras(samples.filter { $0.status == .healthy || $0.status == .degraded }, to: &buffer)
        appendProxyFamilies(state.proxies.map { $0.snapshot() }, to: &buffer)
        appendLimitFamilies(state.limits.snapshot(), to: &buffer)
        return buffer
    }
}

extension MetricsExposition {
    /// Every model series, family by family in `SeedMetrics.models` order (each family's HELP and
    /// TYPE once, then its series for every model).
    static func appendModelFamilies(_ models: [ResourceWatcher_V1_ModelUsage], to buffer: inout [UInt8]) {
        guard !models.isEmpty else { return }
        var families: [String] = []
        for series in SeedMetrics.models where !families.contains(series.family) { families.append(series.family) }
        for family in families {
            let members = SeedMetrics.models.filter { $0.family == family }
            guard let first = members.first else { continue }
            buffer.append(
                contentsOf: "# HELP \(family) \(first.help)\n# TYPE \(family) \(first.exposition.rawValue)\n".utf8
            )
            for model in models {
                let labels = [("client_id", model.clientID), ("model", model.name), ("provider", model.provider)]
                for series in members {
                    appendSample(
                        series.name,
                        labels: labels + series.extraLabels,
                        value: series.value(model),
                        to: &buffer
                    )
                }
            }
        }
    }

    /// Loaded models (Ollama `/api/ps`) and the series kept from components' metrics endpoints
    /// (`custom_metrics`, untyped: the scraped type is not carried), with the component's labels.
    static func appendComponentExtras(_ samples: [ResourceWatcher_V1_ComponentSample], to buffer: inout [UInt8]) {
        for metric in SeedMetrics.loadedModels where samples.contains(where: { !$0.loadedModels.isEmpty }) {
            buffer.append(contentsOf: "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) gauge\n".utf8)
            for sample in samples {
                for loaded in sample.loadedModels {
                    appendSample(
                        metric.name,
                        labels: [("client_id", sample.clientID), ("component", sample.name), ("model", loaded.name)],
                        value: metric.value(loaded),
                        to: &buffer
                    )
                }
            }
        }
        var names: [String] = []
        for sample in samples {
            for kept in sample.customMetrics where !names.contains(SeedMetrics.customMetricName(kept.name)) {
                names.append(SeedMetrics.customMetricName(kept.name))
            }
        }
        for name in names {
            buffer.append(
                contentsOf:
                    "# HELP \(name) Kept from the component's metrics_url (custom_metrics)\n# TYPE \(name) untyped\n"
                    .utf8
            )
            for sample in samples {
                for kept in sample.customMetrics where SeedMetrics.customMetricName(kept.name) == name {
                    appendSample(
                        name,
                        labels: SeedMetrics.customMetricLabels(kept, clientID: sample.clientID, component: sample.name),
                        value: kept.value,
                        to: &buffer
                    )
                }
            }
        }
    }

    /// Outside input cut or refused, by component and reason.
    static func appendLimitFamilies(_ counts: [SourceLimits.Count], to buffer: inout [UInt8]) {
        buffer.append(
            contentsOf: """
                # HELP resource_watcher_source_limited_total Outside values cut or refused by a bound (names, counts, bytes, time, numbers out of range), by component and reason
                # TYPE resource_watcher_source_limited_total counter

                """.utf8
        )
        for entry in counts {
            appendSample(
                "resource_watcher_source_limited_total",
                labels: [("component", entry.component), ("reason", entry.reason)],
                value: Double(entry.count),
                to: &buffer
            )
        }
    }

    /// The metering proxies' counters.
    static func appendProxyFamilies(_ proxies: [ProxyMetrics.Snapshot], to buffer: inout [UInt8]) {
        guard !proxies.isEmpty else { return }
        buffer.append(
            contentsOf: """
                # HELP resource_watcher_proxy_responses_total Responses the metering proxy passed to clients, by upstream status class (502: the upstream could not be reached)
                # TYPE resource_watcher_proxy_responses_total counter

                """.utf8
        )
        for proxy in proxies {
            for (status, count) in proxy.responses.sorted(by: { $0.key < $1.key }) {
                appendSample(
                    "resource_watcher_proxy_responses_total",
                    labels: [("client_id", proxy.clientID), ("component", proxy.component), ("status", status)],
                    value: Double(count),
                    to: &buffer
                )
            }
        }
        buffer.append(
            contentsOf: """
                # HELP resource_watcher_proxy_metered_requests_total Requests the metering proxy recorded as model use
                # TYPE resource_watcher_proxy_metered_requests_total counter

                """.utf8
        )
        for proxy in proxies {
            appendSample(
                "resource_watcher_proxy_metered_requests_total",
                labels: [("client_id", proxy.clientID), ("component", proxy.component)],
                value: Double(proxy.meteredRequests),
                to: &buffer
            )
        }
        buffer.append(
            contentsOf: """
                # HELP resource_watcher_proxy_failures_total Proxied exchanges that failed, by reason (connect_failed, timeout, closed_mid_stream, client_disconnected, malformed_response, other)
                # TYPE resource_watcher_proxy_failures_total counter

                """.utf8
        )
        for proxy in proxies {
            for (reason, count) in proxy.failures.sorted(by: { $0.key < $1.key }) {
                appendSample(
                    "resource_watcher_proxy_failures_total",
                    labels: [("client_id", proxy.clientID), ("component", proxy.component), ("reason", reason)],
                    value: Double(count),
                    to: &buffer
                )
            }
        }
        buffer.append(
            contentsOf: """
                # HELP resource_watcher_proxy_in_flight_requests Requests the metering proxy is serving now
                # TYPE resource_watcher_proxy_in_flight_requests gauge

                """.utf8
        )
        for proxy in proxies {
            appendSample(
                "resource_watcher_proxy_in_flight_requests",
                labels: [("client_id", proxy.clientID), ("component", proxy.component)],
                value: Double(proxy.inFlight),
                to: &buffer
            )
        }
    }

    /// One sample line: `name{labels} value`, label values escaped, the value as Prometheus writes it.
    static func appendSample(_ name: String, labels: [(String, String)], value: Double, to buffer: inout [UInt8]) {
        let rendered = labels.map { "\($0.0)=\"\(escapeLabelValue($0.1))\"" }.joined(separator: ",")
        let number: String
        if value.isNaN {
            number = "NaN"
        } else if value.isInfinite {
            number = value > 0 ? "+Inf" : "-Inf"
        } else {
            number = "\(value)"
        }
        buffer.append(contentsOf: "\(name){\(rendered)} \(number)\n".utf8)
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
