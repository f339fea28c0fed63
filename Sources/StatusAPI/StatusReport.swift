public import WatcherModel

/// The summary `status` prints, from the three API answers.
public struct StatusReport: Sendable {
    let baseURL: String
    let clientID: String

    /// A report of the agent at `baseURL`, its components and alerts read for `clientID`.
    public init(baseURL: String, clientID: String) {
        self.baseURL = baseURL
        self.clientID = clientID
    }

    /// The text for people, from the answers of `/health`, `/metrics/components` and `/alerts`.
    public func render(health: JSONValue, components: JSONValue, alerts: JSONValue) -> String {
        var lines: [String] = []
        // The seed's first troubleshooting step ("Cannot connect to Docker") comes before anything else.
        for source in health["sources"]?.elements ?? [] where source["name"]?.text == "docker" {
            lines.append("Docker: \(source["message"]?.text ?? "failing") (since \(source["since"]?.text ?? "?"))")
            lines.append(
                "  container components read unknown until the engine answers; check `systemctl status docker`"
            )
            lines.append("  and that this agent may use the socket (docker_socket, DOCKER_HOST)")
            lines.append("")
        }
        let status = health["status"]?.text ?? "unknown"
        lines.append("resource-watcher at \(baseURL) is \(status)")
        var about = ["version \(health["version"]?.text ?? "?")"]
        if let agent = health["agent_id"]?.text { about.append("agent \(agent)") }
        if let uptime = health["uptime_seconds"]?.double { about.append("up \(Self.duration(uptime))") }
        if let ticks = health["sampler"]?["ticks"]?.int { about.append("\(ticks) tick" + (ticks == 1 ? "" : "s")) }
        lines.append("  " + about.joined(separator: ", "))
        for reason in health["reasons"]?.elements ?? [] { lines.append("  degraded: \(reason.text ?? "?")") }

        let samples = components["metrics"]?.elements ?? []
        let down = samples.filter { $0["status"]?.text == "down" }.count
        lines.append("")
        lines.append("components (client_id \(clientID)): \(samples.count)" + (down > 0 ? ", \(down) down" : ""))
        if samples.isEmpty {
            lines.append("  none sampled yet")
        } else {
            var table = TextTable(
                header: ["NAME", "STATUS", "CPU %", "MEM MiB", "MEM %", "DISK MiB", "NET IN KiB/s", "NET OUT KiB/s"],
                rightAligned: Set(2...7)
            )
            for sample in samples {
                let resources = sample["resources"]
                let figures = [
                    "cpu_usage", "memory_usage", "memory_usage_percent", "disk_usage", "network_in", "network_out",
                ]
                .map { resources?[$0]?.double.map { Self.fixed($0) } ?? "-" }
                table.rows.append([sample["component"]?.text ?? "?", sample["status"]?.text ?? "?"] + figures)
            }
            lines += table.render()
            for sample in samples {
                guard let reason = sample["status_reason"]?.text else { continue }
                lines.append("  \(sample["component"]?.text ?? "?") is \(sample["status"]?.text ?? "?"): \(reason)")
            }
        }

        let active = alerts["alerts"]?.elements ?? []
        lines.append("")
        lines.append("alerts (client_id \(clientID)): " + (active.isEmpty ? "none active" : "\(active.count) active"))
        if !active.isEmpty {
            var table = TextTable(header: ["SEVERITY", "COMPONENT", "TYPE", "SINCE", "MESSAGE"], rightAligned: [])
            for alert in active {
                table.rows.append(
                    ["severity", "component", "alert_type", "timestamp", "message"].map { alert[$0]?.text ?? "?" }
                )
            }
            lines += table.render()
        }

        lines.append("")
        if let spool = health["spool"] {
            let bytes = spool["bytes"]?.int ?? 0
            let maximum = spool["max_bytes"]?.int ?? 0
            var line =
                "spool: \(bytes) of \(maximum) bytes (\(Self.bytes(bytes)) of \(Self.bytes(maximum)), "
                + "\(Self.fixed(spool["used_percent"]?.double ?? 0))%)"
            if let segments = spool["segments"]?.int { line += ", \(segments) segment" + (segments == 1 ? "" : "s") }
            if let sequence = spool["last_sequence"]?.int { line += ", last sequence \(sequence)" }
            if let dropped = spool["dropped_appends"]?.int, dropped > 0 { line += ", \(dropped) batches DROPPED" }
            lines.append(line)
        }

        let sinks = health["sinks"]?.elements ?? []
        lines.append("sinks: " + (sinks.isEmpty ? "none configured (the spool keeps the data)" : "\(sinks.count)"))
        if !sinks.isEmpty {
            var table = TextTable(
                header: [
                    "NAME", "STATUS", "LAG RECORDS", "LAG S", "SENT REQUESTS", "SENT ITEMS", "FAILED", "DROPPED",
                    "LAST SUCCESS",
                ],
                rightAligned: Set(2...7)
            )
            var errors: [String] = []
            for sink in sinks {
                let name = sink["name"]?.text ?? "?"
                let items = sink.members.first { $0.key.hasPrefix("sent_") && $0.key != "sent_requests" }
                let dropped = (sink["dropped_requests"]?.members ?? []).reduce(0) { $0 + ($1.value.int ?? 0) }
                table.rows.append([
                    name, sink["status"]?.text ?? "?", sink["lag_records"]?.int.map(String.init) ?? "-",
                    sink["lag_seconds"]?.double.map { Self.fixed($0) } ?? "-",
                    sink["sent_requests"]?.int.map(String.init) ?? "-",
                    items.map { "\($0.value.int ?? 0) \($0.key.dropFirst("sent_".count))" } ?? "-",
                    sink["failed_attempts"]?.int.map(String.init) ?? "-", String(dropped),
                    sink["last_success"]?.text ?? "never",
                ])
                if let error = sink["last_error"]?.text { errors.append("  \(name) last error: \(error)") }
            }
            lines += table.render() + errors
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `value` with `places` decimals, rounded half away from zero: 12.25 → "12.3" (no Foundation).
    static func fixed(_ value: Double, places: Int = 1) -> String {
        guard value.isFinite else { return "-" }
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = OutsideNumber.int64(abs(value) * Double(scale))  // the API's answer: never trap
        var text = (value < 0 && scaled != 0 ? "-" : "") + String(scaled / scale)
        if places > 0 {
            let fraction = String(scaled % scale)
            text += "." + String(repeating: "0", count: places - fraction.count) + fraction
        }
        return text
    }

    /// "1.4 KiB", "1.0 GiB".
    static func bytes(_ count: Int) -> String {
        var value = Double(count)
        for unit in ["B", "KiB", "MiB", "GiB"] {
            if value < 1024 { return unit == "B" ? "\(count) B" : "\(fixed(value)) \(unit)" }
            value /= 1024
        }
        return "\(fixed(value)) TiB"
    }

    /// "3d 4h", "2h 05m", "1m 07s", "12s".
    static func duration(_ seconds: Double) -> String {
        let total = Int(OutsideNumber.int64(max(0, seconds)))
        let (days, hours, minutes, rest) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60)
        func two(_ number: Int) -> String { number < 10 ? "0\(number)" : "\(number)" }
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(two(minutes))m" }
        if minutes > 0 { return "\(minutes)m \(two(rest))s" }
        return "\(rest)s"
    }
}
