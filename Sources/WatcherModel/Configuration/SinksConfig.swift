/// Per-destination settings (`sinks`); a sink without a URL is off. The orchestrator's URL is
/// the top-level `orchestrator_url`, kept there for the seed's sake.
public struct SinksConfig: Sendable, Equatable {
    /// Prometheus remote-write 1.0 (`prometheus_remote_write`).
    public var prometheusRemoteWrite: PrometheusRemoteWrite
    /// Loki push API (`loki`).
    public var loki: Loki
    /// Agent Orchestrator paths (`orchestrator`).
    public var orchestrator: Orchestrator

    /// All sinks off, orchestrator paths at their defaults.
    public init(
        prometheusRemoteWrite: PrometheusRemoteWrite = PrometheusRemoteWrite(),
        loki: Loki = Loki(),
        orchestrator: Orchestrator = Orchestrator()
    ) {
        self.prometheusRemoteWrite = prometheusRemoteWrite
        self.loki = loki
        self.orchestrator = orchestrator
    }

    /// Settings of the Prometheus remote-write sink.
    public struct PrometheusRemoteWrite: Sendable, Equatable {
        /// The remote-write endpoint (`url`), e.g. `http://prometheus:9090/api/v1/write`; nil is off.
        public var url: String?
        /// Send `X-Scope-OrgID: <client_id>` (`tenant_header`), for Mimir and Cortex.
        public var tenantHeader: Bool
        /// Most samples in one request (`max_samples_per_request`).
        public var maxSamplesPerRequest: Int

        /// Off, no tenant header, 2000 samples per request.
        public init(url: String? = nil, tenantHeader: Bool = false, maxSamplesPerRequest: Int = 2000) {
            self.url = url
            self.tenantHeader = tenantHeader
            self.maxSamplesPerRequest = maxSamplesPerRequest
        }
    }

    /// Settings of the Loki push sink.
    public struct Loki: Sendable, Equatable {
        /// Loki's URL (`url`), e.g. `http://loki:3100`; nil is off.
        public var url: String?
        /// Send `X-Scope-OrgID: <client_id>` (`tenant_header`).
        public var tenantHeader: Bool

        /// Off, no tenant header.
        public init(url: String? = nil, tenantHeader: Bool = false) {
            self.url = url
            self.tenantHeader = tenantHeader
        }
    }

    /// Paths under `orchestrator_url` the orchestrator sink posts to.
    public struct Orchestrator: Sendable, Equatable {
        /// Path of periodic reports (`reports_path`); nil sends none.
        public var reportsPath: String?
        /// Path of alert transitions (`alerts_path`).
        public var alertsPath: String

        /// No reports; alerts to `/recommendations` (DESIGN §10).
        public init(reportsPath: String? = nil, alertsPath: String = "/recommendations") {
            self.reportsPath = reportsPath
            self.alertsPath = alertsPath
        }
    }
}
