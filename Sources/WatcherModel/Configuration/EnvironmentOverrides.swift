/// The `RESOURCE_WATCHER_*` variables that override the file (DESIGN §9), and how each value is
/// read. A value that cannot be read as its type is a problem named by the variable.
enum EnvironmentOverrides {
    enum Kind {
        case string, integer, number
        /// A URL; an empty value turns the sink off, overriding a URL in the file.
        case url
    }

    struct Variable {
        let name: String
        let keys: [String]
        let kind: Kind
    }

    static let variables: [Variable] = [
        Variable(name: "RESOURCE_WATCHER_CLIENT_ID", keys: ["client_id"], kind: .string),
        Variable(name: "RESOURCE_WATCHER_PORT", keys: ["port"], kind: .integer),
        Variable(name: "RESOURCE_WATCHER_METRICS_PORT", keys: ["metrics_port"], kind: .integer),
        Variable(name: "RESOURCE_WATCHER_LISTEN_ADDRESS", keys: ["listen_address"], kind: .string),
        Variable(name: "RESOURCE_WATCHER_POLL_INTERVAL", keys: ["poll_interval_seconds"], kind: .number),
        Variable(name: "RESOURCE_WATCHER_LOG_LEVEL", keys: ["log_level"], kind: .string),
        Variable(name: "RESOURCE_WATCHER_ORCHESTRATOR_URL", keys: ["orchestrator_url"], kind: .url),
        Variable(name: "RESOURCE_WATCHER_SPOOL_DIR", keys: ["spool", "dir"], kind: .string),
        Variable(
            name: "RESOURCE_WATCHER_REMOTE_WRITE_URL",
            keys: ["sinks", "prometheus_remote_write", "url"],
            kind: .url
        ),
        Variable(name: "RESOURCE_WATCHER_LOKI_URL", keys: ["sinks", "loki", "url"], kind: .url),
        // Docker's own variable, as its clients read it; `docker_socket` checks the value.
        Variable(name: "DOCKER_HOST", keys: ["docker_socket"], kind: .string),
    ]

    /// The overrides `environment` sets, in the table's order; unreadable values become problems.
    static func values(from environment: [String: String], problems: inout [ConfigProblem]) -> [ConfigOverride] {
        var overrides: [ConfigOverride] = []
        for variable in variables {
            // An empty DOCKER_HOST means the default, as Docker's clients read it.
            guard let raw = environment[variable.name], !(raw.isEmpty && variable.name == "DOCKER_HOST") else {
                continue
            }
            let origin = "env \(variable.name)"
            let text = raw.trimmingWhitespace()
            let value: JSONValue
            switch variable.kind {
            case .string:
                value = .string(text)
            case .url:
                value = text.isEmpty ? .null : .string(text)
            case .integer:
                guard let integer = Int(text) else {
                    problems.append(ConfigProblem(path: origin, message: "\(quoted(raw)) is not an integer"))
                    continue
                }
                value = .number(JSONNumber(integer))
            case .number:
                guard let number = Double(text), number.isFinite, text.first.map({ $0.isNumber || $0 == "." }) ?? false
                else {
                    problems.append(ConfigProblem(path: origin, message: "\(quoted(raw)) is not a number"))
                    continue
                }
                value = .number(JSONNumber(number))
            }
            overrides.append(ConfigOverride(keys: variable.keys, value: value, origin: origin))
        }
        return overrides
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line breaks (as `.env` files leave them).
    fileprivate func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
