import HTTPTransport
public import Logging
public import NIOPosix
public import ServiceLifecycle
public import Spool
public import WatcherModel

/// The sinks a configuration turns on, as services to run and counters to read.
public struct ShipperSinks: Sendable {
    /// One loop per configured sink, in the order `consumerNames(in:)` gives.
    public let services: [any Service]
    /// Each sink's counters, in the same order.
    public let metrics: [SinkMetrics]

    /// Spool consumer names of the sinks `config` turns on; a sink without a URL is off.
    public static func consumerNames(in config: Config) -> [String] {
        var names: [String] = []
        if config.sinks.prometheusRemoteWrite.url != nil { names.append("prometheus") }
        if config.sinks.loki.url != nil { names.append("loki") }
        if config.orchestratorURL != nil { names.append("orchestrator") }
        return names
    }

    /// Builds the configured sinks over `spool` (opened with `consumerNames(in:)` as consumers).
    /// `instance` is the remote-write `instance` label (the host name); `userAgent` goes on every request.
    public init(
        config: Config,
        spool: Spool,
        ioThreadPool: NIOThreadPool,
        instance: String,
        userAgent: String,
        logger: Logger,
        idlePollInterval: Duration = .milliseconds(200)
    ) {
        let retryPolicy = RetryPolicy(minimumBackoff: config.retry.minBackoff, maximumBackoff: config.retry.maxBackoff)
        let requestTimeout = config.retry.requestTimeout
        func transport(for sink: String) -> CurlTransport {
            var httpLogger = logger
            httpLogger[metadataKey: "sink.name"] = "\(sink)"
            return CurlTransport(
                userAgent: userAgent,
                connectTimeout: min(.seconds(5), requestTimeout),
                requestTimeout: requestTimeout,
                acceptGzip: true,
                logger: httpLogger
            )
        }
        var services: [any Service] = []
        var metrics: [SinkMetrics] = []
        func add<Encoder: SinkEncoder>(_ name: String, _ encoder: Encoder) {
            let service = SinkService(
                name: name,
                encoder: encoder,
                spool: spool,
                transport: transport(for: name),
                retryPolicy: retryPolicy,
                ioThreadPool: ioThreadPool,
                logger: logger,
                idlePollInterval: idlePollInterval
            )
            services.append(service)
            metrics.append(service.metrics)
        }
        let remoteWrite = config.sinks.prometheusRemoteWrite
        if let url = remoteWrite.url {
            add(
                "prometheus",
                RemoteWriteSink(
                    url: url,
                    tenantHeader: remoteWrite.tenantHeader,
                    instance: instance,
                    maxSamplesPerRequest: remoteWrite.maxSamplesPerRequest
                )
            )
        }
        if let url = config.sinks.loki.url {
            add("loki", LokiSink(url: url, tenantHeader: config.sinks.loki.tenantHeader))
        }
        if let url = config.orchestratorURL {
            add(
                "orchestrator",
                OrchestratorSink(
                    baseURL: url,
                    alertsPath: config.sinks.orchestrator.alertsPath,
                    reportsPath: config.sinks.orchestrator.reportsPath
                )
            )
        }
        self.services = services
        self.metrics = metrics
    }
}
