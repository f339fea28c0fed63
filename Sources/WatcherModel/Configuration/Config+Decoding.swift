/// Turns a parsed config tree into a `Config`, reporting every problem to `decoder`. Ranges are
/// the contract of DESIGN §9; checks that involve two fields are in `Config+Validation.swift`.
extension Config {
    static func decode(_ root: JSONValue, decoder: ConfigDecoder) -> Config {
        var reader = ObjectReader(root, at: JSONPath.root, decoder: decoder)
        var config = Config()
        config.clientID = reader.identifier("client_id", default: config.clientID)
        config.port = reader.int("port", default: config.port, in: 1...65535)
        config.metricsPort = reader.int("metrics_port", default: config.metricsPort, in: 1...65535)
        if let member = reader.member("listen_address"),
            let address = decoder.nonEmptyString(member.value, at: member.path)
        {
            if IPAddressLiteral(address) != nil {
                config.listenAddress = address
            } else {
                let hint =
                    address == "localhost"
                    ? "; use 127.0.0.1" : address.hasPrefix("[") ? "; write it without brackets" : ""
                decoder.report(member.path, "\(quoted(address)) is not an IPv4 or IPv6 address\(hint)")
            }
        }
        config.pollIntervalSeconds = reader.double(
            "poll_interval_seconds",
            default: config.pollIntervalSeconds,
            in: 0.1...86_400
        )
        if let member = reader.member("log_level") {
            config.logLevel = decoder.oneOf(Config.logLevels, member.value, at: member.path) ?? config.logLevel
        }
        config.logFile = reader.optionalString("log_file")
        config.orchestratorURL = reader.optionalURL("orchestrator_url")
        if let member = reader.member("docker_socket"),
            let value = decoder.nonEmptyString(member.value, at: member.path)
        {
            // Docker's own spelling (DOCKER_HOST) is accepted as well as a path.
            let path = value.hasPrefix("unix://") ? String(value.dropFirst("unix://".count)) : value
            if value.contains("://") && !value.hasPrefix("unix://") {
                decoder.report(
                    member.path,
                    "\(quoted(value)) is not a unix socket; resource-watcher reaches the Docker engine over its unix "
                        + "socket only (a path, or unix:///PATH)"
                )
            } else if !path.hasPrefix("/") {
                decoder.report(member.path, "\(quoted(value)) must be an absolute path (or unix:///PATH)")
            } else {
                config.dockerSocket = path
            }
        }

        var spool = reader.object("spool")
        config.spool = SpoolConfig.decode(&spool)
        var sinks = reader.object("sinks")
        config.sinks = SinksConfig.decode(&sinks)
        var retry = reader.object("retry")
        config.retry = RetryConfig.decode(&retry)
        var auth = reader.object("auth")
        config.auth = AuthConfig.decode(&auth)
        var http = reader.object("http")
        config.http = HTTPServerConfig.decode(&http)
        var limits = reader.object("limits")
        config.limits = InputLimitsConfig.decode(&limits)
        var alerts = reader.object("alerts")
        config.alerts = AlertThresholds.decode(&alerts)
        config.components = reader.array("components").map {
            ComponentConfig.decode($0.value, at: $0.path, defaultClientID: config.clientID, decoder: decoder)
        }
        config.host = reader.bool("host", default: config.host)
        var discovery = reader.object("discovery")
        config.discovery = DiscoveryConfig.decode(&discovery)
        reader.finish()
        config.validate(decoder: decoder)
        return config
    }
}

extension SpoolConfig {
    static func decode(_ reader: inout ObjectReader) -> SpoolConfig {
        var spool = SpoolConfig()
        spool.directory = reader.string("dir", default: spool.directory)
        spool.maxBytes = reader.int("max_bytes", default: spool.maxBytes, in: (1 << 20)...Int.max)
        if let member = reader.member("max_age_hours") {
            // 0 and null both mean "no age limit", as a retention of 0 does in Prometheus.
            spool.maxAgeHours =
                member.value == .null
                ? nil
                : reader.decoder.double(member.value, at: member.path, in: 0...876_000).flatMap { $0 == 0 ? nil : $0 }
        }
        spool.segmentBytes = reader.int("segment_bytes", default: spool.segmentBytes, in: (64 << 10)...(1 << 30))
        spool.fsync = reader.choice("fsync", default: spool.fsync)
        reader.finish()
        return spool
    }
}

extension SinksConfig {
    static func decode(_ reader: inout ObjectReader) -> SinksConfig {
        var sinks = SinksConfig()
        var remoteWrite = reader.object("prometheus_remote_write")
        sinks.prometheusRemoteWrite.url = remoteWrite.optionalURL("url")
        sinks.prometheusRemoteWrite.tenantHeader = remoteWrite.bool("tenant_header", default: false)
        sinks.prometheusRemoteWrite.maxSamplesPerRequest = remoteWrite.int(
            "max_samples_per_request",
            default: sinks.prometheusRemoteWrite.maxSamplesPerRequest,
            in: 1...1_000_000
        )
        remoteWrite.finish()

        var loki = reader.object("loki")
        sinks.loki.url = loki.optionalURL("url")
        sinks.loki.tenantHeader = loki.bool("tenant_header", default: false)
        loki.finish()

        var orchestrator = reader.object("orchestrator")
        sinks.orchestrator.reportsPath = orchestrator.optionalURLPath("reports_path")
        sinks.orchestrator.alertsPath = orchestrator.optionalURLPath("alerts_path") ?? sinks.orchestrator.alertsPath
        orchestrator.finish()
        reader.finish()
        return sinks
    }
}

extension DiscoveryConfig {
    static func decode(_ reader: inout ObjectReader) -> DiscoveryConfig {
        var discovery = DiscoveryConfig()
        discovery.enabled = reader.bool("enabled", default: discovery.enabled)
        discovery.intervalSeconds = reader.double(
            "interval_seconds",
            default: discovery.intervalSeconds,
            in: 0.1...86_400
        )
        discovery.maxComponents = reader.int("max_components", default: discovery.maxComponents, in: 0...1024)
        reader.finish()
        return discovery
    }
}

extension RetryConfig {
    static func decode(_ reader: inout ObjectReader) -> RetryConfig {
        var retry = RetryConfig()
        retry.minBackoffMs = reader.int("min_backoff_ms", default: retry.minBackoffMs, in: 1...3_600_000)
        retry.maxBackoffMs = reader.int("max_backoff_ms", default: retry.maxBackoffMs, in: 1...3_600_000)
        retry.requestTimeoutSeconds = reader.double(
            "request_timeout_seconds",
            default: retry.requestTimeoutSeconds,
            in: 0.1...3600
        )
        reader.finish()
        return retry
    }
}

extension AuthConfig {
    static func decode(_ reader: inout ObjectReader) -> AuthConfig {
        var auth = AuthConfig()
        let decoder = reader.decoder
        auth.tokens = reader.array("tokens").map { element in
            var token = ObjectReader(element.value, at: element.path, decoder: decoder)
            let clientID = token.requiredIdentifier("client_id") ?? ""
            let sha256 = token.sha256("sha256")
            token.finish()
            return Token(clientID: clientID, sha256: sha256)
        }
        auth.operatorTokens = reader.array("operator_tokens").map { element in
            var token = ObjectReader(element.value, at: element.path, decoder: decoder)
            let sha256 = token.sha256("sha256")
            token.finish()
            return OperatorToken(sha256: sha256)
        }
        auth.metricsTokens = reader.array("metrics_tokens").map { element in
            var token = ObjectReader(element.value, at: element.path, decoder: decoder)
            let sha256 = token.sha256("sha256")
            token.finish()
            return OperatorToken(sha256: sha256)
        }
        reader.finish()
        return auth
    }
}

extension AlertThresholds {
    static func decode(_ reader: inout ObjectReader) -> AlertThresholds {
        AlertThresholds().applying(AlertThresholdOverrides.decode(&reader))
    }
}

extension AlertThresholdOverrides {
    static func decode(_ reader: inout ObjectReader) -> AlertThresholdOverrides {
        var overrides = AlertThresholdOverrides()
        overrides.cpuThresholdPercent = reader.optionalDouble("cpu_threshold_percent", in: 0...100)
        overrides.memoryThresholdPercent = reader.optionalDouble("memory_threshold_percent", in: 0...100)
        overrides.diskThresholdPercent = reader.optionalDouble("disk_threshold_percent", in: 0...100)
        overrides.gpuMemoryThresholdPercent = reader.optionalDouble("gpu_memory_threshold_percent", in: 0...100)
        overrides.criticalThresholdPercent = reader.optionalDouble("critical_threshold_percent", in: 0...100)
        overrides.forSamples = reader.optionalInt("for_samples", in: 1...10_000)
        overrides.hysteresisPercent = reader.optionalDouble("hysteresis_percent", in: 0...100)
        reader.finish()
        return overrides
    }
}
