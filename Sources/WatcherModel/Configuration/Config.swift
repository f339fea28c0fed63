/// The agent's whole configuration: the config file (DESIGN §9), overridden by
/// `RESOURCE_WATCHER_*` environment variables, overridden by flags. Every field has the
/// documented default, so `Config()` is the configuration of an empty file.
///
/// Values built by `ConfigLoader` have been validated; a `Config` built in code has not.
public struct Config: Sendable, Equatable {
    /// The default tenant (`client_id`): of the agent itself and of components that name none.
    public var clientID: String
    /// Port of the JSON status API (`port`).
    public var port: Int
    /// Port of the Prometheus `/metrics` page (`metrics_port`); differs from `port`.
    public var metricsPort: Int
    /// IPv4 or IPv6 literal both ports listen on (`listen_address`).
    public var listenAddress: String
    /// Seconds between two sampling ticks (`poll_interval_seconds`), at least 0.1.
    public var pollIntervalSeconds: Double
    /// Lowest level logged (`log_level`): trace, debug, info, notice, warning, error or critical.
    public var logLevel: String
    /// File the agent logs to (`log_file`); nil logs to standard error.
    public var logFile: String?
    /// Base http(s) URL of the Agent Orchestrator (`orchestrator_url`); nil turns that sink off.
    public var orchestratorURL: String?
    /// Where and how batches are kept on disk (`spool`).
    public var spool: SpoolConfig
    /// Destinations other than the orchestrator, and the orchestrator's paths (`sinks`).
    public var sinks: SinksConfig
    /// Backoff and timeouts shared by every sink (`retry`).
    public var retry: RetryConfig
    /// Bearer tokens of the status API, as SHA-256 hashes (`auth`).
    public var auth: AuthConfig
    /// Timeouts and the connection cap of the two HTTP servers (`http`).
    public var http: HTTPServerConfig = HTTPServerConfig()
    /// Bounds on what is kept of components' scrapes and `/api/ps` (`limits`).
    public var limits: InputLimitsConfig = InputLimitsConfig()
    /// Alert thresholds of every component that does not override them (`alerts`).
    public var alerts: AlertThresholds
    /// The components to watch, in file order, names unique (`components`).
    public var components: [ComponentConfig]
    /// The Docker engine's unix socket (`docker_socket`, or `DOCKER_HOST=unix://PATH`), used by
    /// every Docker call: components' stats, sizes and logs.
    public var dockerSocket: String = Config.defaultDockerSocket
    /// Whether the machine itself is watched as the component named `host` (`host`).
    public var host: Bool = false
    /// Finding well-known AI services without configuration (`discovery`).
    public var discovery: DiscoveryConfig = DiscoveryConfig()

    /// The component name the host is reported under; no configured component may take it
    /// while `host` is on.
    public static let hostComponentName = "host"

    /// Where Docker listens unless told otherwise.
    public static let defaultDockerSocket = "/var/run/docker.sock"

    /// The default value of every field, as documented in DESIGN §9.
    public init(
        clientID: String = "default",
        port: Int = 5220,
        metricsPort: Int = 5221,
        listenAddress: String = "127.0.0.1",
        pollIntervalSeconds: Double = 15,
        logLevel: String = "info",
        logFile: String? = nil,
        orchestratorURL: String? = nil,
        spool: SpoolConfig = SpoolConfig(),
        sinks: SinksConfig = SinksConfig(),
        retry: RetryConfig = RetryConfig(),
        auth: AuthConfig = AuthConfig(),
        alerts: AlertThresholds = AlertThresholds(),
        components: [ComponentConfig] = []
    ) {
        self.clientID = clientID
        self.port = port
        self.metricsPort = metricsPort
        self.listenAddress = listenAddress
        self.pollIntervalSeconds = pollIntervalSeconds
        self.logLevel = logLevel
        self.logFile = logFile
        self.orchestratorURL = orchestratorURL
        self.spool = spool
        self.sinks = sinks
        self.retry = retry
        self.auth = auth
        self.alerts = alerts
        self.components = components
    }

    /// The log levels `log_level` accepts, lowest first (swift-log's names).
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// `pollIntervalSeconds` as a duration.
    public var pollInterval: Duration { .nanoseconds(Int64((pollIntervalSeconds * 1e9).rounded())) }

    /// True when `listenAddress` is a loopback address (127.0.0.0/8, ::1): the only case in which
    /// the API may run without tokens (DESIGN §4; the agent logs a warning then).
    public var listensOnLoopbackOnly: Bool { IPAddressLiteral(listenAddress)?.isLoopback ?? false }

    /// The thresholds that apply to `component`: its overrides over the global ones.
    public func alertThresholds(for component: ComponentConfig) -> AlertThresholds {
        alerts.applying(component.alerts)
    }
}
