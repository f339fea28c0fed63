import ArgumentParser
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// Flags shared by every command that reads the configuration. Flags beat environment
/// variables, which beat the config file (DESIGN §9).
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $RESOURCE_WATCHER_CONFIG, else built-in defaults).")
    var config: String?

    @Option(name: .customLong("client-id"), help: "Default tenant for components without their own client_id.")
    var clientID: String?

    @Option(name: .long, help: "Port of the status API.")
    var port: Int?

    @Option(name: .customLong("metrics-port"), help: "Port of the Prometheus /metrics page.")
    var metricsPort: Int?

    @Option(name: .customLong("listen-address"), help: "Address both ports bind to.")
    var listenAddress: String?

    @Option(name: .customLong("poll-interval"), help: "Seconds between samples (decimals allowed, >= 0.1).")
    var pollInterval: Double?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .customLong("spool-dir"), help: "Directory of the on-disk spool.")
    var spoolDirectory: String?

    @Option(name: .customLong("orchestrator-url"), help: "Base URL of the Agent Orchestrator.")
    var orchestratorURL: String?

    var overrides: ConfigOverrides {
        var overrides = ConfigOverrides()
        overrides.clientID = clientID
        overrides.port = port
        overrides.metricsPort = metricsPort
        overrides.listenAddress = listenAddress
        overrides.pollIntervalSeconds = pollInterval
        overrides.logLevel = logLevel
        overrides.spoolDirectory = spoolDirectory
        overrides.orchestratorURL = orchestratorURL
        return overrides
    }

    /// The validated configuration; on any problem, prints every one of them and exits with 2.
    func load() throws -> Config {
        do {
            return try ConfigLoader.load(path: config, environment: Self.environment(), overrides: overrides)
        } catch {
            printError("resource-watcher: invalid configuration:\n\(error)")
            throw ExitCode(2)
        }
    }

    static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        return result
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
