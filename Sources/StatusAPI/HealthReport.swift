import WatcherModel

/// `GET /health`: the seed's fields (`status`, `version`, `timestamp`) plus, for operators (or
/// when no tokens are configured), reasons, uptime, components, sampler, spool and per-sink
/// state. `status` is `degraded` when a source of figures failed the last tick (the Docker
/// engine), a sink is failing or the spool is over 90% of its cap, and `healthy` otherwise.
public enum HealthReport {
    /// The share of `spool.max_bytes` above which the agent reports itself degraded.
    public static let spoolDegradedFraction = 0.9

    public static func body(state: StatusState, detailed: Bool = true) -> [UInt8] {
        let now = RFC3339.nowUnixMilliseconds()
        let statistics = state.spool.statistics()
        let sinks = state.sinkSnapshots(nowUnixMilliseconds: now)
        let spoolFraction = Double(statistics.totalBytes) / Double(max(state.config.spool.maxBytes, 1))
        let latest = state.latestSample()
        let sourceProblems = latest?.sourceProblems ?? []
        // A source that cannot be read (the Docker engine) first: it blanks whole components.
        var reasons = sourceProblems.map { "\($0.source): \($0.message)" }
        for sink in sinks where sink.isFailing { reasons.append("sink \(sink.name) is failing") }
        if spoolFraction > spoolDegradedFraction {
            reasons.append("spool is \(Int(spoolFraction * 100))% of spool.max_bytes")
        }
        let ticks = state.ticks.snapshot()
        let components = latest?.components ?? []

        var json = JSONWriter(reservingCapacity: 1024)
        json.beginObject()
        json.member("status", reasons.isEmpty ? "healthy" : "degraded")
        json.member("version", state.version)
        json.member("timestamp", RFC3339.format(unixMilliseconds: now))
        guard detailed else {
            json.endObject()
            return json.bytes
        }
        json.key("reasons")
        json.beginArray()
        for reason in reasons { json.string(reason) }
        json.endArray()
        json.member("agent_id", state.agentID)
        json.key("uptime_seconds")
        json.number(Double(now - state.startedUnixMilliseconds) / 1000)
        json.key("components")
        json.beginObject()
        json.key("total")
        json.number(Int64(components.count))
        json.key("down")
        json.number(Int64(components.filter { $0.status == .down }.count))
        json.endObject()
        json.key("sources")
        json.beginArray()
        for problem in sourceProblems {
            json.beginObject()
            json.member("name", problem.source)
            json.member("status", "failing")
            json.member("message", problem.message)
            json.member("since", RFC3339.format(unixMilliseconds: problem.sinceUnixMs))
            json.endObject()
        }
        json.endArray()
        json.key("sampler")
        json.beginObject()
        json.key("ticks")
        json.number(Int64(ticks.ticks))
        json.key("last_tick_duration_seconds")
        json.number(ticks.lastDurationSeconds)
        if let last = ticks.lastTickUnixMilliseconds {
            json.member("last_tick", RFC3339.format(unixMilliseconds: last))
        }
        json.key("log_files_refused")
        json.number(Int64(state.ticks.logFilesRefused))
        json.endObject()
        json.key("source_limited")
        json.beginArray()
        for entry in state.limits.snapshot() {
            json.beginObject()
            json.member("component", entry.component)
            json.member("reason", entry.reason)
            json.key("count")
            json.number(Int64(clamping: entry.count))
            json.endObject()
        }
        json.endArray()
        json.key("spool")
        json.beginObject()
        json.key("bytes")
        json.number(Int64(statistics.totalBytes))
        json.key("max_bytes")
        json.number(Int64(state.config.spool.maxBytes))
        json.key("used_percent")
        json.number(SeedUnits.rounded(spoolFraction * 100, places: 1))
        json.key("segments")
        json.number(Int64(statistics.segmentCount))
        json.key("last_sequence")
        json.number(Int64(statistics.lastSequence))
        json.key("dropped_appends")
        json.number(Int64(statistics.droppedAppends.values.reduce(0, +)))
        json.endObject()
        json.key("sinks")
        json.beginArray()
        for sink in sinks {
            json.beginObject()
            json.member("name", sink.name)
            json.member("status", sink.isFailing ? "failing" : "ok")
            json.key("lag_records")
            json.number(Int64(sink.lagRecords))
            json.key("lag_seconds")
            json.number(SeedUnits.rounded(sink.lagSeconds, places: 1))
            json.key("sent_requests")
            json.number(Int64(sink.sentRequests))
            json.key("sent_\(sink.itemName)")
            json.number(Int64(sink.sentItems))
            json.key("failed_attempts")
            json.number(Int64(sink.failedAttempts))
            json.key("dropped_requests")
            json.beginObject()
            for (reason, count) in sink.droppedRequests.sorted(by: { $0.key < $1.key }) {
                json.key(reason)
                json.number(Int64(count))
            }
            json.endObject()
            json.key("lost_records")
            json.number(Int64(sink.lostRecords))
            if let last = sink.lastSuccessUnixMilliseconds {
                json.member("last_success", RFC3339.format(unixMilliseconds: last))
            } else {
                json.key("last_success")
                json.null()
            }
            if let error = sink.lastError, sink.isFailing { json.member("last_error", error) }
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }
}
