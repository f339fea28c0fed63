/// Builds the agent's `Config`: the JSON file, then `RESOURCE_WATCHER_*` environment variables,
/// then flags, each beating the one before (DESIGN §9). Overrides are written into the parsed
/// tree before it is decoded, so one set of checks covers every source; a problem with an
/// overridden value is reported under the variable or flag that set it.
public enum ConfigLoader {
    /// The environment variable naming the config file when `load` is given no path.
    public static let configPathVariable = "RESOURCE_WATCHER_CONFIG"

    /// Reads the JSON file (if a path is given; a missing file given explicitly is a problem),
    /// applies environment overrides, then flag overrides, validates everything, and throws a
    /// `ConfigError` listing every problem at once.
    ///
    /// With `path` nil, `RESOURCE_WATCHER_CONFIG` names the file; with neither, the file's part
    /// is empty and every default applies.
    public static func load(
        path: String?,
        environment: [String: String],
        overrides: ConfigOverrides
    ) throws(ConfigError) -> Config {
        var problems: [ConfigProblem] = []
        var tree: JSONValue? = .object(JSONObject())
        var filePath = path
        if filePath == nil, let fromEnvironment = environment[configPathVariable], !fromEnvironment.isEmpty {
            filePath = fromEnvironment
        }
        if let filePath {
            switch ConfigFile.contents(of: filePath) {
            case .success(let bytes):
                tree = parseTree(bytes, source: filePath, problems: &problems)
            case .failure(let failure):
                let origin = path == nil ? "env \(configPathVariable)" : filePath
                problems.append(
                    ConfigProblem(
                        path: origin,
                        message: "cannot read the config file \(quoted(filePath)): \(failure.message)"
                    )
                )
                tree = nil
            }
        }

        var origins: [String: String] = [:]
        let environmentValues = EnvironmentOverrides.values(from: environment, problems: &problems)
        let flagValues = flagOverrides(overrides)
        // Without the file's tree there is nothing sound to check the overrides against; their
        // own format problems are reported above, the rest once the file is fixed.
        guard var tree else { throw ConfigError(problems: problems) }
        for override in environmentValues + flagValues {
            if tree.set(override.value, at: override.keys) {
                origins[override.path] = override.origin
            }
        }
        let decoder = ConfigDecoder()
        let config = Config.decode(tree, decoder: decoder)
        problems += decoder.problems.map { problem in
            origins[problem.path].map { ConfigProblem(path: $0, message: problem.message) } ?? problem
        }
        guard problems.isEmpty else { throw ConfigError(problems: problems) }
        return config
    }

    /// Decodes and validates a config file's bytes alone, without environment or flags;
    /// `source` names the bytes in a syntax error ("config.json", a path, "stdin").
    public static func parse(json: [UInt8], source: String) throws(ConfigError) -> Config {
        var problems: [ConfigProblem] = []
        guard let tree = parseTree(json, source: source, problems: &problems) else {
            throw ConfigError(problems: problems)
        }
        let decoder = ConfigDecoder()
        let config = Config.decode(tree, decoder: decoder)
        guard decoder.problems.isEmpty else { throw ConfigError(problems: decoder.problems) }
        return config
    }

    /// The parsed tree, or nil after a problem that says where the syntax broke.
    private static func parseTree(_ bytes: [UInt8], source: String, problems: inout [ConfigProblem]) -> JSONValue? {
        do throws(JSONParser.SyntaxError) {
            return try JSONParser.parse(bytes)
        } catch {
            problems.append(
                ConfigProblem(
                    path: source,
                    message: "invalid JSON at line \(error.line), column \(error.column): \(error.message)"
                )
            )
            return nil
        }
    }

    private static func flagOverrides(_ overrides: ConfigOverrides) -> [ConfigOverride] {
        var values: [ConfigOverride] = []
        func add(_ flag: String, _ keys: [String], _ value: JSONValue?) {
            if let value { values.append(ConfigOverride(keys: keys, value: value, origin: flag)) }
        }
        add("--client-id", ["client_id"], overrides.clientID.map(JSONValue.string))
        add("--port", ["port"], overrides.port.map { .number(JSONNumber($0)) })
        add("--metrics-port", ["metrics_port"], overrides.metricsPort.map { .number(JSONNumber($0)) })
        add("--listen-address", ["listen_address"], overrides.listenAddress.map(JSONValue.string))
        add("--poll-interval", ["poll_interval_seconds"], overrides.pollIntervalSeconds.map { .number(JSONNumber($0)) })
        add("--log-level", ["log_level"], overrides.logLevel.map(JSONValue.string))
        add("--spool-dir", ["spool", "dir"], overrides.spoolDirectory.map(JSONValue.string))
        add("--orchestrator-url", ["orchestrator_url"], overrides.orchestratorURL.map(JSONValue.string))
        return values
    }
}

/// One value set from outside the file: where it goes in the tree and who set it.
struct ConfigOverride {
    let keys: [String]
    let value: JSONValue
    /// `env RESOURCE_WATCHER_PORT` or `--port`: what problems with this value are reported as.
    let origin: String

    /// The JSON path the value lands at, as problems name it before they are re-attributed.
    var path: String { keys.reduce(JSONPath.root, JSONPath.member) }
}
