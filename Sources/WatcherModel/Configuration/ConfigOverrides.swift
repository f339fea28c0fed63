/// Values given as command-line flags, already typed by the argument parser; they beat the
/// environment and the file. A nil field is not overridden.
public struct ConfigOverrides: Sendable {
    /// `--client-id`
    public var clientID: String?
    /// `--port`
    public var port: Int?
    /// `--metrics-port`
    public var metricsPort: Int?
    /// `--listen-address`
    public var listenAddress: String?
    /// `--poll-interval`, in seconds
    public var pollIntervalSeconds: Double?
    /// `--log-level`
    public var logLevel: String?
    /// `--spool-dir`
    public var spoolDirectory: String?
    /// `--orchestrator-url`
    public var orchestratorURL: String?

    /// No overrides.
    public init() {}
}
