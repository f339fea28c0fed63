import Testing

@testable import WatcherModel

@Suite struct ConfigProblemTests {
    @Test func aTypoAWrongTypeAndAnOutOfRangePortAreAllReportedInOneError() throws {
        let json = """
            {
              "pollinterval": 5,
              "log_level": 3,
              "port": 70000
            }
            """
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.parse(json: Array(json.utf8), source: "test.json")
        }
        #expect(error.problems.count == 3)
        #expect(
            error.problems.contains(
                ConfigProblem(
                    path: "$.pollinterval",
                    message: #"unknown key "pollinterval"; did you mean "poll_interval_seconds"?"#
                )
            )
        )
        #expect(
            error.problems.contains(
                ConfigProblem(
                    path: "$.log_level",
                    message: "expected a string, got an integer (3)"
                )
            )
        )
        #expect(
            error.problems.contains(ConfigProblem(path: "$.port", message: "must be between 1 and 65535, got 70000"))
        )
        let lines = error.description.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.contains(#"$.pollinterval: unknown key "pollinterval"; did you mean "poll_interval_seconds"?"#))
    }

    @Test func unknownKeysAreReportedAtEveryLevel() {
        let found = problems(
            in: """
                {
                  "spool": {"maxbytes": 10},
                  "sinks": {"loki": {"url": "http://loki:3100", "tenant": true}, "kafka": {}},
                  "alerts": {"cpu_treshold_percent": 50},
                  "components": [{"name": "a", "ports": [1], "contianer_name": "x", "proxy": {"listen_port": 9, "upstream": "http://a", "model": "m"}}]
                }
                """
        )
        #expect(
            found.contains(
                ConfigProblem(path: "$.spool.maxbytes", message: #"unknown key "maxbytes"; did you mean "max_bytes"?"#)
            )
        )
        #expect(
            found.contains(
                ConfigProblem(
                    path: "$.sinks.loki.tenant",
                    message: #"unknown key "tenant"; did you mean "tenant_header"?"#
                )
            )
        )
        #expect(found.contains(ConfigProblem(path: "$.sinks.kafka", message: #"unknown key "kafka""#)))
        #expect(
            found.contains(
                ConfigProblem(
                    path: "$.alerts.cpu_treshold_percent",
                    message: #"unknown key "cpu_treshold_percent"; did you mean "cpu_threshold_percent"?"#
                )
            )
        )
        #expect(
            found.contains(
                ConfigProblem(
                    path: "$.components[0].contianer_name",
                    message: #"unknown key "contianer_name"; did you mean "container_name"?"#
                )
            )
        )
        #expect(found.contains(ConfigProblem(path: "$.components[0].proxy.model", message: #"unknown key "model""#)))
        #expect(found.count == 6)
    }

    @Test func wrongTypesNameTheExpectedAndTheActualType() {
        let found = problems(
            in:
                #"{"port": "5220", "spool": [], "sinks": {"loki": {"tenant_header": "yes"}}, "components": {}, "client_id": null}"#
        )
        #expect(found.contains(ConfigProblem(path: "$.port", message: #"expected an integer, got a string ("5220")"#)))
        #expect(found.contains(ConfigProblem(path: "$.spool", message: "expected an object, got an array")))
        #expect(
            found.contains(
                ConfigProblem(
                    path: "$.sinks.loki.tenant_header",
                    message: #"expected a boolean (true or false), got a string ("yes")"#
                )
            )
        )
        #expect(found.contains(ConfigProblem(path: "$.components", message: "expected an array, got an object")))
        #expect(found.contains(ConfigProblem(path: "$.client_id", message: "expected a string, got null")))
        #expect(found.count == 5)
    }

    @Test func aFractionWhereAnIntegerIsExpectedIsAProblem() {
        #expect(
            problems(in: #"{"port": 5220.5}"#) == [
                ConfigProblem(path: "$.port", message: "expected an integer, got a number (5220.5)")
            ]
        )
        #expect(problems(in: #"{"alerts": {"for_samples": 1.5}}"#).map(\.path) == ["$.alerts.for_samples"])
        // A whole number written with a fraction or an exponent is still that integer.
        #expect(problems(in: #"{"port": 5220.0, "spool": {"max_bytes": 2e9}}"#).isEmpty)
    }

    @Test func outOfRangeValuesNameTheAllowedRange() {
        let found = problems(
            in: """
                {"poll_interval_seconds": 0.05, "alerts": {"cpu_threshold_percent": 101},
                 "spool": {"segment_bytes": 10, "fsync": "always"}, "retry": {"min_backoff_ms": 500, "max_backoff_ms": 100},
                 "components": [{"name": "a", "ports": [0, 80, 65536]}]}
                """
        )
        #expect(
            found.contains(
                ConfigProblem(path: "$.poll_interval_seconds", message: "must be between 0.1 and 86400, got 0.05")
            )
        )
        #expect(
            found.contains(
                ConfigProblem(path: "$.alerts.cpu_threshold_percent", message: "must be between 0 and 100, got 101")
            )
        )
        #expect(
            found.contains(
                ConfigProblem(path: "$.spool.segment_bytes", message: "must be between 65536 and 1073741824, got 10")
            )
        )
        #expect(
            found.contains(
                ConfigProblem(
                    path: "$.spool.fsync",
                    message: #"must be one of "batch", "interval", "never", got "always""#
                )
            )
        )
        #expect(
            found.contains(
                ConfigProblem(
                    path: "$.retry.max_backoff_ms",
                    message: "must be at least min_backoff_ms (500), got 100"
                )
            )
        )
        #expect(
            found.contains(
                ConfigProblem(path: "$.components[0].ports[0]", message: "must be between 1 and 65535, got 0")
            )
        )
        #expect(
            found.contains(
                ConfigProblem(path: "$.components[0].ports[2]", message: "must be between 1 and 65535, got 65536")
            )
        )
        #expect(found.count == 7)
    }

    @Test func aCmdlineThatIsNotARegularExpressionIsAProblem() {
        let found = problems(in: #"{"components": [{"name": "a", "cmdline": "python (server"}]}"#)
        #expect(found.count == 1)
        #expect(found.first?.path == "$.components[0].cmdline")
        #expect(found.first?.message.hasPrefix(#""python (server" is not a valid regular expression"#) == true)
    }

    @Test func duplicateComponentNamesAreAProblem() {
        let found = problems(
            in:
                #"{"components": [{"name": "ollama", "ports": [1]}, {"name": "x", "ports": [2]}, {"name": "ollama", "container_name": "o"}]}"#
        )
        #expect(
            found == [
                ConfigProblem(
                    path: "$.components[2].name",
                    message: #"duplicate component name "ollama" (also at $.components[0].name)"#
                )
            ]
        )
    }

    @Test func aComponentNeedsANameAndAWayToBeFound() {
        let found = problems(in: #"{"components": [{"data_paths": ["/srv"]}]}"#)
        #expect(found.contains(ConfigProblem(path: "$.components[0].name", message: "is required")))
        #expect(
            found.contains(
                ConfigProblem(
                    path: "$.components[0]",
                    message:
                        "has no way to be found: set at least one of container_name, process_name, cmdline, pid_file, ports"
                )
            )
        )
        #expect(found.count == 2)
    }

    @Test func aNonLoopbackListenAddressWithoutTokensIsAProblem() throws {
        #expect(
            problems(in: #"{"listen_address": "0.0.0.0"}"#) == [
                ConfigProblem(
                    path: "$.listen_address",
                    message:
                        "0.0.0.0 is not a loopback address and no auth tokens are configured; add auth.tokens or auth.operator_tokens, or listen on 127.0.0.1"
                )
            ]
        )
        #expect(problems(in: #"{"listen_address": "::"}"#).map(\.path) == ["$.listen_address"])
        // Loopback needs no tokens, and tokens make any address acceptable.
        #expect(problems(in: #"{"listen_address": "127.0.0.1"}"#).isEmpty)
        #expect(problems(in: #"{"listen_address": "::1"}"#).isEmpty)
        #expect(
            problems(in: #"{"listen_address": "0.0.0.0", "auth": {"operator_tokens": [{"sha256": "\#(tokenHash)"}]}}"#)
                .isEmpty
        )
    }

    @Test func aListenAddressMustBeAnIPLiteral() {
        #expect(
            problems(in: #"{"listen_address": "localhost"}"#) == [
                ConfigProblem(
                    path: "$.listen_address",
                    message: #""localhost" is not an IPv4 or IPv6 address; use 127.0.0.1"#
                )
            ]
        )
        #expect(
            problems(in: #"{"listen_address": "[::1]"}"#).first?.message.hasSuffix("write it without brackets") == true
        )
        #expect(problems(in: #"{"listen_address": "256.1.1.1"}"#).count == 1)
    }

    @Test func tokensMustBeLowercaseSHA256HashesOfOneTenantEach() {
        let found = problems(
            in: """
                {"auth": {"tokens": [{"client_id": "a", "sha256": "secret"}, {"sha256": "\(tokenHash.uppercased())"},
                                     {"client_id": "b", "sha256": "\(tokenHash)"}],
                          "operator_tokens": [{"sha256": "\(tokenHash)"}]}}
                """
        )
        #expect(
            found.map(\.path) == [
                "$.auth.tokens[0].sha256", "$.auth.tokens[1].client_id", "$.auth.tokens[1].sha256",
                "$.auth.operator_tokens[0].sha256",
            ]
        )
        #expect(found[2].message.contains("(use lowercase)"))
        #expect(
            found[3].message
                == "the same token is already configured at $.auth.tokens[2].sha256; a token must belong to one tenant"
        )
    }

    @Test func customMetricsNeedAnEndpoint() {
        #expect(
            problems(
                in: """
                    {"components": [{"name": "a", "process_name": "a", "custom_metrics": ["x"]},
                      {"name": "b", "ports": [8000], "custom_metrics": ["x"]},
                      {"name": "c", "process_name": "c", "metrics_url": "http://127.0.0.1:9/metrics", "custom_metrics": ["resource_watcher_x"]}]}
                    """
            ) == [
                ConfigProblem(
                    path: "$.components[2].custom_metrics[0]",
                    message: "\"resource_watcher_x\" is one of the agent's own metric names (resource_watcher_*)"
                ),
                ConfigProblem(
                    path: "$.components[0].custom_metrics",
                    message:
                        "names series to keep from the component's metrics endpoint, but there is none: set metrics_url (or ports, whose /metrics is tried)"
                ),
            ]
        )
    }

    @Test func portsMustNotCollide() {
        let found = problems(
            in: """
                {"metrics_port": 5220, "components": [
                  {"name": "a", "ports": [11434], "proxy": {"listen_port": 5221, "upstream": "http://127.0.0.1:11434"}},
                  {"name": "b", "ports": [8000], "proxy": {"listen_port": 8000, "upstream": "http://127.0.0.1:8000"}}]}
                """
        )
        #expect(
            found == [
                ConfigProblem(path: "$.metrics_port", message: "must differ from port (both are 5220)"),
                ConfigProblem(
                    path: "$.components[1].proxy.upstream",
                    message: "\"http://127.0.0.1:8000\" is the proxy's own address; it must name the real server"
                ),
                ConfigProblem(
                    path: "$.components[1].proxy.listen_port",
                    message: "port 8000 is one of the component's own ports; the proxy needs a port of its own"
                ),
            ]
        )
        #expect(
            problems(
                in: """
                    {"components": [{"name": "a", "ports": [1], "proxy": {"listen_port": 5220, "upstream": "http://x"}}]}
                    """
            ) == [
                ConfigProblem(path: "$.components[0].proxy.listen_port", message: "port 5220 is already used by port")
            ]
        )
    }

    @Test func urlsMustBeHTTPWithAHost() {
        let found = problems(
            in: """
                {"orchestrator_url": "localhost:5210", "sinks": {"loki": {"url": "http://"},
                 "prometheus_remote_write": {"url": "http://prom:99999/api/v1/write"},
                 "orchestrator": {"alerts_path": "recommendations"}}}
                """
        )
        #expect(
            found.map(\.path) == [
                "$.orchestrator_url", "$.sinks.prometheus_remote_write.url", "$.sinks.loki.url",
                "$.sinks.orchestrator.alerts_path",
            ]
        )
        #expect(found[0].message == #""localhost:5210" is not an http(s) URL: it must start with http:// or https://"#)
    }

    @Test func criticalMustNotBeBelowAWarningThreshold() {
        #expect(
            problems(in: #"{"alerts": {"disk_threshold_percent": 96}}"#).map(\.path) == [
                "$.alerts.critical_threshold_percent"
            ]
        )
        #expect(
            problems(
                in: #"{"components": [{"name": "a", "ports": [1], "alerts": {"critical_threshold_percent": 85}}]}"#
            )
                == [
                    ConfigProblem(
                        path: "$.components[0].alerts",
                        message:
                            "critical_threshold_percent must be at least every warning threshold, but disk_threshold_percent is 90 and critical_threshold_percent is 85"
                    )
                ]
        )
    }

    @Test func namesAndMetricsMustBeSafeIdentifiers() {
        let found = problems(
            in:
                #"{"client_id": "a b", "components": [{"name": "../x", "ports": [1], "custom_metrics": ["load-time"]}]}"#
        )
        #expect(found.map(\.path) == ["$.client_id", "$.components[0].name", "$.components[0].custom_metrics[0]"])
    }

    @Test func anEntryThatIsNotAnObjectIsOneProblemNotACascade() {
        #expect(
            problems(in: #"{"components": [5], "auth": {"tokens": ["abc"]}}"#) == [
                ConfigProblem(path: "$.auth.tokens[0]", message: #"expected an object, got a string ("abc")"#),
                ConfigProblem(path: "$.components[0]", message: "expected an object, got an integer (5)"),
            ]
        )
    }

    @Test func duplicateKeysAreAProblem() {
        #expect(
            problems(in: #"{"port": 1, "port": 2}"#) == [
                ConfigProblem(path: "$.port", message: #"duplicate key "port""#)
            ]
        )
    }

    @Test func aDocumentThatIsNotAnObjectIsAProblem() {
        #expect(problems(in: "[]") == [ConfigProblem(path: "$", message: "expected an object, got an array")])
    }

    @Test func invalidJSONSyntaxIsOneProblemWithLineAndColumn() throws {
        let json = """
            {
              "port": 5220,
              "log_level": "info"
              "metrics_port": 5221
            }
            """
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.parse(json: Array(json.utf8), source: "config.json")
        }
        #expect(
            error.problems == [
                ConfigProblem(
                    path: "config.json",
                    message: "invalid JSON at line 4, column 3: missing ',' before the next key"
                )
            ]
        )
    }

    @Test func invalidJSONInAFileIsReportedWithOnlyTheEnvironmentsOwnProblems() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(
                path: repositoryRoot + "/Package.swift",
                environment: ["RESOURCE_WATCHER_PORT": "x"],
                overrides: ConfigOverrides()
            )
        }
        #expect(error.problems.count == 2)
        #expect(error.problems[0].path == repositoryRoot + "/Package.swift")
        #expect(error.problems[0].message.hasPrefix("invalid JSON at line 1, column 1:"))
        #expect(error.problems[1].path == "env RESOURCE_WATCHER_PORT")
    }
}
