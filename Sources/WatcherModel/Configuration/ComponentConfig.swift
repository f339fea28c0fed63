/// One watched component (`components[i]`). It is found by any of `containerName`,
/// `processName`, `cmdline`, `pidFile` and `ports` (at least one is set); one that is not found
/// is reported `down`, which is not a config error.
public struct ComponentConfig: Sendable, Equatable {
    /// Unique name, the `component` label everywhere (`name`).
    public var name: String
    /// Tenant of the component (`client_id`); the top-level `client_id` when the file names none.
    public var clientID: String
    /// Docker container name (`container_name`).
    public var containerName: String?
    /// Process name (`process_name`): the executable's base name, or `/proc/<pid>/comm`, which
    /// the kernel cuts to 15 bytes.
    public var processName: String?
    /// Regular expression (Swift `Regex` syntax) matched against the process's command line,
    /// arguments joined by spaces (`cmdline`).
    public var cmdline: String?
    /// File holding the main process's pid (`pid_file`).
    public var pidFile: String?
    /// TCP ports the component listens on, to find it and to report them (`ports`).
    public var ports: [Int]
    /// Paths whose size is the component's disk usage (`data_paths`).
    public var dataPaths: [String]
    /// Log files tailed into log records (`log_files`).
    public var logFiles: [String]
    /// Extra metric names the component reports (`custom_metrics`).
    public var customMetrics: [String]
    /// The component's own Prometheus endpoint, scraped for `customMetrics` (`metrics_url`).
    public var metricsURL: String?
    /// Thresholds overriding the global `alerts` (`alerts`).
    public var alerts: AlertThresholdOverrides
    /// A metering proxy in front of the component's LLM API (`proxy`).
    public var proxy: Proxy?

    /// A component found by nothing yet: set at least one way to find it.
    public init(
        name: String,
        clientID: String = "default",
        containerName: String? = nil,
        processName: String? = nil,
        cmdline: String? = nil,
        pidFile: String? = nil,
        ports: [Int] = [],
        dataPaths: [String] = [],
        logFiles: [String] = [],
        customMetrics: [String] = [],
        metricsURL: String? = nil,
        alerts: AlertThresholdOverrides = AlertThresholdOverrides(),
        proxy: Proxy? = nil
    ) {
        self.name = name
        self.clientID = clientID
        self.containerName = containerName
        self.processName = processName
        self.cmdline = cmdline
        self.pidFile = pidFile
        self.ports = ports
        self.dataPaths = dataPaths
        self.logFiles = logFiles
        self.customMetrics = customMetrics
        self.metricsURL = metricsURL
        self.alerts = alerts
        self.proxy = proxy
    }

    /// A metering proxy: listens on `listenPort`, passes every request to `upstream` untouched,
    /// and records model usage from the responses.
    public struct Proxy: Sendable, Equatable {
        /// Port the proxy listens on, on the agent's `listen_address` (`listen_port`).
        public var listenPort: Int
        /// Base http(s) URL of the real API (`upstream`), e.g. `http://127.0.0.1:11434`.
        public var upstream: String
        /// Which API dialect the responses are read as (`provider`).
        public var provider: Provider
        /// Whether callers must send a bearer token of the component's tenant or an operator
        /// (`require_token`); required when `listen_address` is not loopback.
        public var requireToken: Bool
        /// Largest request body passed on, in bytes (`max_body_bytes`); larger ones get 413.
        public var maxBodyBytes: Int

        /// 32 MiB: a model call with a few images inlined as base64 fits.
        public static let defaultMaxBodyBytes = 32 << 20

        /// A proxy for an Ollama server unless told otherwise.
        public init(
            listenPort: Int,
            upstream: String,
            provider: Provider = .ollama,
            requireToken: Bool = false,
            maxBodyBytes: Int = Proxy.defaultMaxBodyBytes
        ) {
            self.listenPort = listenPort
            self.upstream = upstream
            self.provider = provider
            self.requireToken = requireToken
            self.maxBodyBytes = maxBodyBytes
        }

        /// The API dialects the proxy reads usage from.
        public enum Provider: String, Sendable, Equatable, CaseIterable {
            /// Ollama's `/api/generate` and `/api/chat`.
            case ollama
            /// OpenAI-compatible `/v1/chat/completions` and `/v1/completions`.
            case openai
        }
    }
}
