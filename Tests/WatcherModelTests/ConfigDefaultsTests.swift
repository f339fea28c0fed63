import Testing

@testable import WatcherModel

@Suite struct ConfigDefaultsTests {
    @Test func anEmptyFileGivesEveryDocumentedDefault() throws {
        let config = try parse("{}")
        #expect(config == Config())
        #expect(config.clientID == "default")
        #expect(config.port == 5220)
        #expect(config.metricsPort == 5221)
        #expect(config.listenAddress == "127.0.0.1")
        #expect(config.pollIntervalSeconds == 15)
        #expect(config.pollInterval == .seconds(15))
        #expect(config.logLevel == "info")
        #expect(config.logFile == nil)
        #expect(config.orchestratorURL == nil)
        #expect(config.spool.directory == "/var/lib/resource-watcher/spool")
        #expect(config.spool.maxBytes == 1 << 30)
        #expect(config.spool.maxAgeHours == 168)
        #expect(config.spool.maxAge == .seconds(168 * 3600))
        #expect(config.spool.segmentBytes == 8 << 20)
        #expect(config.spool.fsync == .batch)
        #expect(config.sinks.prometheusRemoteWrite.url == nil)
        #expect(config.sinks.prometheusRemoteWrite.tenantHeader == false)
        #expect(config.sinks.prometheusRemoteWrite.maxSamplesPerRequest == 2000)
        #expect(config.sinks.loki.url == nil)
        #expect(config.sinks.loki.tenantHeader == false)
        #expect(config.sinks.orchestrator.reportsPath == nil)
        #expect(config.sinks.orchestrator.alertsPath == "/recommendations")
        #expect(config.retry.minBackoffMs == 100)
        #expect(config.retry.maxBackoffMs == 30_000)
        #expect(config.retry.requestTimeoutSeconds == 30)
        #expect(config.auth.isEmpty)
        #expect(
            config.alerts
                == AlertThresholds(
                    cpuThresholdPercent: 80,
                    memoryThresholdPercent: 80,
                    diskThresholdPercent: 90,
                    criticalThresholdPercent: 95,
                    forSamples: 2,
                    hysteresisPercent: 5
                )
        )
        #expect(config.components.isEmpty)
        #expect(config.listensOnLoopbackOnly)
    }

    @Test func loadingWithNoFileNoEnvironmentAndNoFlagsGivesTheDefaults() throws {
        let config = try ConfigLoader.load(path: nil, environment: [:], overrides: ConfigOverrides())
        #expect(config == Config())
    }

    @Test func theSeedsExampleConfigParses() throws {
        let config = try parse(seedExample)
        #expect(config.port == 5220)
        #expect(config.orchestratorURL == "http://localhost:5210")
        #expect(config.components.map(\.name) == ["ollama", "langchain"])
        let ollama = try #require(config.components.first)
        #expect(ollama.containerName == "ollama")
        #expect(ollama.ports == [11434, 11435])
        #expect(ollama.customMetrics == ["model_load_time", "inference_time"])
        #expect(ollama.clientID == "default")
        #expect(config.alerts.diskThresholdPercent == 90)
        #expect(config.alerts.criticalThresholdPercent == 95)
    }

    @Test func theShippedDefaultConfigValidatesAndWatchesTheAgentItself() throws {
        let config = try ConfigLoader.load(
            path: repositoryRoot + "/config/resource-watcher.json",
            environment: [:],
            overrides: ConfigOverrides()
        )
        #expect(config.pollIntervalSeconds == 5)
        #expect(config.spool.directory == "./spool")
        #expect(config.sinks.prometheusRemoteWrite.url == nil)
        #expect(config.sinks.loki.url == nil)
        #expect(config.orchestratorURL == nil)
        #expect(config.components.map(\.name) == ["resource-watcher"])
        #expect(config.components.first?.processName == "resource-watcher")
    }

    @Test func theShippedExampleConfigValidatesAndMatchesTheSeed() throws {
        let config = try ConfigLoader.load(
            path: repositoryRoot + "/config/example.json",
            environment: [:],
            overrides: ConfigOverrides()
        )
        #expect(config == (try parse(seedExample)))
    }

    @Test func everyFieldOfTheFullFormatIsRead() throws {
        let config = try parse(
            """
            {
              "client_id": "acme", "port": 6000, "metrics_port": 6001, "listen_address": "0.0.0.0",
              "poll_interval_seconds": 0.5, "log_level": "debug", "log_file": "/var/log/rw.log",
              "orchestrator_url": "https://orchestrator.example:5210",
              "spool": {"dir": "/tmp/spool", "max_bytes": 1e8, "max_age_hours": 0, "segment_bytes": 1048576, "fsync": "interval"},
              "sinks": {
                "prometheus_remote_write": {"url": "http://[::1]:9090/api/v1/write", "tenant_header": true, "max_samples_per_request": 500},
                "loki": {"url": "http://user:secret@loki:3100", "tenant_header": true},
                "orchestrator": {"reports_path": "/reports", "alerts_path": "/alerts"}
              },
              "retry": {"min_backoff_ms": 50, "max_backoff_ms": 50, "request_timeout_seconds": 2.5},
              "auth": {"tokens": [{"client_id": "acme", "sha256": "\(tokenHash)"}], "operator_tokens": []},
              "alerts": {"cpu_threshold_percent": 70, "for_samples": 3, "hysteresis_percent": 2.5},
              "components": [{
                "name": "vllm", "client_id": "tenant-2", "process_name": "python3", "cmdline": "vllm\\\\.entrypoints",
                "pid_file": "/run/vllm.pid", "data_paths": ["/models"], "log_files": ["/var/log/vllm.log"],
                "metrics_url": "http://127.0.0.1:8000/metrics", "custom_metrics": ["vllm:num_requests_running"],
                "alerts": {"memory_threshold_percent": 90, "critical_threshold_percent": 97},
                "proxy": {"listen_port": 8001, "upstream": "http://127.0.0.1:8000", "provider": "openai",
                          "require_token": true, "max_body_bytes": 65536}
              }]
            }
            """
        )
        #expect(config.clientID == "acme")
        #expect(config.listensOnLoopbackOnly == false)
        #expect(config.spool.maxBytes == 100_000_000)
        #expect(config.spool.maxAgeHours == nil)
        #expect(config.spool.fsync == .interval)
        #expect(config.sinks.prometheusRemoteWrite.maxSamplesPerRequest == 500)
        #expect(config.sinks.orchestrator.reportsPath == "/reports")
        #expect(config.retry.requestTimeout == .milliseconds(2500))
        #expect(config.auth.tokens == [AuthConfig.Token(clientID: "acme", sha256: tokenHash)])
        let component = try #require(config.components.first)
        #expect(component.clientID == "tenant-2")
        #expect(component.cmdline == "vllm\\.entrypoints")
        #expect(
            component.proxy
                == ComponentConfig.Proxy(
                    listenPort: 8001,
                    upstream: "http://127.0.0.1:8000",
                    provider: .openai,
                    requireToken: true,
                    maxBodyBytes: 65536
                )
        )
        let thresholds = config.alertThresholds(for: component)
        #expect(thresholds.cpuThresholdPercent == 70)
        #expect(thresholds.memoryThresholdPercent == 90)
        #expect(thresholds.criticalThresholdPercent == 97)
        #expect(thresholds.forSamples == 3)
    }

    @Test func aComponentWithoutClientIDBelongsToTheTopLevelTenant() throws {
        let config = try parse(#"{"client_id": "acme", "components": [{"name": "a", "ports": [1]}]}"#)
        #expect(config.components.first?.clientID == "acme")
    }

    @Test func nullOptionalValuesMeanOff() throws {
        let config = try parse(#"{"orchestrator_url": null, "log_file": null, "spool": {"max_age_hours": null}}"#)
        #expect(config.orchestratorURL == nil)
        #expect(config.logFile == nil)
        #expect(config.spool.maxAgeHours == nil)
    }
}
