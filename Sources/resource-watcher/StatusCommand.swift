import ArgumentParser
import HTTPTransport
import WatcherModel

/// `resource-watcher status`: asks a running agent's status API (`/health`, `/metrics/components`,
/// `/alerts`) and prints a summary for people. The exit status is for scripts: see `discussion`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running agent's health, components, active alerts, spool and sinks.",
        discussion: """
            Reads listen_address, port and client_id from the configuration (flags and environment \
            variables apply as for `run`) and asks the agent's status API; the components and alerts \
            shown are client_id's (--client-id picks another tenant).
            Exit status: 0 the agent is healthy; 1 it answered but is not healthy (degraded); \
            2 the configuration is invalid; 3 the agent is unreachable or answered with an error \
            (a missing or rejected token, an unknown client_id).
            """
    )

    /// The exit status when the agent cannot be asked (unreachable, or an error answer).
    static let unreachableExitCode: Int32 = 3

    @OptionGroup var options: ConfigOptions

    @Option(help: "API token for the status API (default: $RESOURCE_WATCHER_TOKEN, which keeps it out of `ps`).")
    var token: String?

    @Option(help: "Base URL of the status API (default: http://<listen_address>:<port> from the configuration).")
    var url: String?

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Double = 3

    func validate() throws {
        if let url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ValidationError("--url must start with http:// or https://, got \(url)")
        }
        guard timeout.isFinite, timeout > 0 else {
            throw ValidationError("--timeout must be a positive number of seconds")
        }
    }

    func run() async throws {
        let config = try options.load()
        let environmentToken = ConfigOptions.environment()["RESOURCE_WATCHER_TOKEN"]
        var baseURL = url ?? Self.baseURL(listenAddress: config.listenAddress, port: config.port)
        while baseURL.hasSuffix("/") { baseURL.removeLast() }
        let client = StatusClient(
            baseURL: baseURL,
            token: [token, environmentToken].compactMap { $0 }.first { !$0.isEmpty },
            timeout: .milliseconds(Int64((timeout * 1000).rounded()))
        )
        let health: JSONValue
        let components: JSONValue
        let alerts: JSONValue
        let tenant = "client_id=" + Self.queryEscaped(config.clientID)
        do {
            health = try await client.get("/health")
            components = try await client.get("/metrics/components?" + tenant)
            alerts = try await client.get("/alerts?" + tenant)
        } catch {
            printError("resource-watcher: \(error.message)")
            if let hint = error.hint { printError("hint: \(hint)") }
            throw ExitCode(Self.unreachableExitCode)
        }
        let report = StatusReport(baseURL: client.baseURL, clientID: config.clientID)
        print(report.render(health: health, components: components, alerts: alerts), terminator: "")
        if health["status"]?.text != "healthy" { throw ExitCode(1) }
    }

    /// The URL the agent listens on; a wildcard listen address is reached over loopback.
    static func baseURL(listenAddress: String, port: Int) -> String {
        var host = listenAddress
        if host.isEmpty || host == "0.0.0.0" {
            host = "127.0.0.1"
        } else if host == "::" || host == "[::]" {
            host = "::1"
        }
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        return "http://\(host):\(port)"
    }

    /// `text` with everything but RFC 3986's unreserved characters percent-encoded.
    static func queryEscaped(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF")
                result += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
            }
        }
        return result
    }
}

/// Why `status` could not get an answer: what happened, and what the user might do about it.
private struct StatusFailure: Error {
    let message: String
    let hint: String?
}

/// GETs JSON documents from the status API over libcurl.
private struct StatusClient {
    let baseURL: String
    let token: String?
    private let transport: CurlTransport

    init(baseURL: String, token: String?, timeout: Duration) {
        self.baseURL = baseURL
        self.token = token
        self.transport = CurlTransport(
            userAgent: "resource-watcher/\(AgentVersion.current) (status)",
            connectTimeout: min(timeout, .seconds(2)),
            requestTimeout: timeout
        )
    }

    /// The JSON body of a 2xx answer to `GET path`; anything else is a `StatusFailure`.
    func get(_ path: String) async throws(StatusFailure) -> JSONValue {
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let response: HTTPResponse
        do {
            response = try await transport.send(HTTPRequest(url: baseURL + path, headers: headers))
        } catch {
            throw StatusFailure(
                message: "the agent at \(baseURL) is unreachable: \(error)",
                hint: "is `resource-watcher run` running with this configuration's listen_address and port? "
                    + "--url asks another address"
            )
        }
        let body = try? JSONParser.parse(response.body)
        guard response.isSuccess else {
            throw failure(status: response.status, body: body, raw: response.body, path: path)
        }
        guard let body, case .object = body else {
            throw StatusFailure(
                message: "\(baseURL)\(path) answered \(response.status) with something that is not a JSON object",
                hint: "is another program listening there? --url asks another address"
            )
        }
        return body
    }

    /// The API's `{"error": {"code", "message"}}` in words, with a hint for the usual causes.
    private func failure(status: Int, body: JSONValue?, raw: [UInt8], path: String) -> StatusFailure {
        let code = body?["error"]?["code"]?.text
        let detail = body?["error"]?["message"]?.text ?? String(decoding: raw.prefix(200), as: UTF8.self)
        let endpoint = String(path.prefix { $0 != "?" })
        let message = "the agent at \(baseURL) refused GET \(endpoint): \(status) \(code ?? "error"): \(detail)"
        let hint: String? =
            switch (status, code) {
            case (401, _) where token == nil:
                "this agent requires an API token: pass --token TOKEN or set RESOURCE_WATCHER_TOKEN"
            case (401, _): "the token from --token or RESOURCE_WATCHER_TOKEN was not accepted; check it"
            case (403, _):
                "the token belongs to another tenant: pass that tenant with --client-id, or use an operator token"
            case (404, "unknown_client_id"): "pass a configured tenant with --client-id"
            case (404, _): "is another program listening there? --url asks another address"
            default: nil
            }
        return StatusFailure(message: message, hint: hint)
    }
}

/// The summary `status` prints, from the three API answers.
private struct StatusReport {
    let baseURL: String
    let clientID: String

    func render(health: JSONValue, components: JSONValue, alerts: JSONValue) -> String {
        var lines: [String] = []
        // The seed's first troubleshooting step ("Cannot connect to Docker") comes before anything else.
        for source in health["sources"]?.elements ?? [] where source["name"]?.text == "docker" {
            lines.append("Docker: \(source["message"]?.text ?? "failing") (since \(source["since"]?.text ?? "?"))")
            lines.append("  container components read unknown until the engine answers; check `systemctl status docker`")
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
        let scaled = Int64((abs(value) * Double(scale)).rounded())
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
        let total = Int(max(0, seconds))
        let (days, hours, minutes, rest) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60)
        func two(_ number: Int) -> String { number < 10 ? "0\(number)" : "\(number)" }
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(two(minutes))m" }
        if minutes > 0 { return "\(minutes)m \(two(rest))s" }
        return "\(rest)s"
    }
}

/// Columns padded to their widest cell: text aligned left, the `rightAligned` columns (figures) right.
private struct TextTable {
    let header: [String]
    let rightAligned: Set<Int>
    var rows: [[String]] = []

    func render(indent: String = "  ") -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { column in
            all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0
        }
        return all.map { row in
            var line = indent
            for (column, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                if column > 0 { line += "  " }
                if rightAligned.contains(column) {
                    line += padding + cell
                } else {
                    line += column == row.count - 1 ? cell : cell + padding
                }
            }
            return line
        }
    }
}

extension JSONValue {
    /// The member `key` of an object; nil for anything else.
    fileprivate subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }

    fileprivate var text: String? { if case .string(let text) = self { text } else { nil } }

    fileprivate var double: Double? { if case .number(let number) = self { number.double } else { nil } }

    fileprivate var int: Int? { if case .number(let number) = self { number.integer } else { nil } }

    fileprivate var elements: [JSONValue] { if case .array(let elements) = self { elements } else { [] } }

    fileprivate var members: [JSONObject.Member] { if case .object(let object) = self { object.members } else { [] } }
}
