import Testing

@testable import WatcherModel

@Suite struct ConfigOverrideTests {
    let examplePath = repositoryRoot + "/config/example.json"

    @Test func environmentVariablesBeatTheFile() throws {
        let environment = [
            "RESOURCE_WATCHER_PORT": "6000",
            "RESOURCE_WATCHER_METRICS_PORT": "6001",
            "RESOURCE_WATCHER_POLL_INTERVAL": "0.25",
            "RESOURCE_WATCHER_LOG_LEVEL": "debug",
            "RESOURCE_WATCHER_ORCHESTRATOR_URL": "http://orchestrator:5210",
            "RESOURCE_WATCHER_CLIENT_ID": "acme",
            "RESOURCE_WATCHER_SPOOL_DIR": "/tmp/rw-spool",
            "RESOURCE_WATCHER_REMOTE_WRITE_URL": "http://prometheus:9090/api/v1/write",
            "RESOURCE_WATCHER_LOKI_URL": "http://loki:3100",
            "RESOURCE_WATCHER_LISTEN_ADDRESS": "::1",
        ]
        let config = try ConfigLoader.load(path: examplePath, environment: environment, overrides: ConfigOverrides())
        #expect(config.port == 6000)
        #expect(config.metricsPort == 6001)
        #expect(config.pollIntervalSeconds == 0.25)
        #expect(config.logLevel == "debug")
        #expect(config.orchestratorURL == "http://orchestrator:5210")
        #expect(config.clientID == "acme")
        #expect(config.spool.directory == "/tmp/rw-spool")
        #expect(config.sinks.prometheusRemoteWrite.url == "http://prometheus:9090/api/v1/write")
        #expect(config.sinks.loki.url == "http://loki:3100")
        #expect(config.listenAddress == "::1")
        // Components that name no tenant follow the overridden default tenant.
        #expect(config.components.allSatisfy { $0.clientID == "acme" })
        // What the environment does not set still comes from the file.
        #expect(config.components.count == 2)
    }

    @Test func flagsBeatTheEnvironment() throws {
        var overrides = ConfigOverrides()
        overrides.port = 7000
        overrides.metricsPort = 7001
        overrides.pollIntervalSeconds = 1.5
        overrides.logLevel = "error"
        overrides.clientID = "from-flag"
        overrides.listenAddress = "127.0.0.2"
        overrides.spoolDirectory = "/tmp/flag-spool"
        overrides.orchestratorURL = "https://flag:5210"
        let environment = [
            "RESOURCE_WATCHER_PORT": "6000",
            "RESOURCE_WATCHER_METRICS_PORT": "6001",
            "RESOURCE_WATCHER_POLL_INTERVAL": "3",
            "RESOURCE_WATCHER_LOG_LEVEL": "debug",
            "RESOURCE_WATCHER_CLIENT_ID": "from-env",
            "RESOURCE_WATCHER_SPOOL_DIR": "/tmp/env-spool",
            "RESOURCE_WATCHER_ORCHESTRATOR_URL": "http://env:5210",
        ]
        let config = try ConfigLoader.load(path: examplePath, environment: environment, overrides: overrides)
        #expect(config.port == 7000)
        #expect(config.metricsPort == 7001)
        #expect(config.pollIntervalSeconds == 1.5)
        #expect(config.logLevel == "error")
        #expect(config.clientID == "from-flag")
        #expect(config.listenAddress == "127.0.0.2")
        #expect(config.spool.directory == "/tmp/flag-spool")
        #expect(config.orchestratorURL == "https://flag:5210")
    }

    @Test func anEmptyURLVariableTurnsTheSinkOff() throws {
        let config = try ConfigLoader.load(
            path: examplePath,
            environment: ["RESOURCE_WATCHER_ORCHESTRATOR_URL": ""],
            overrides: ConfigOverrides()
        )
        #expect(config.orchestratorURL == nil)
    }

    @Test func unreadableEnvironmentValuesAreProblemsNamedByTheVariable() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(
                path: nil,
                environment: [
                    "RESOURCE_WATCHER_PORT": "abc",
                    "RESOURCE_WATCHER_POLL_INTERVAL": "fast",
                    "RESOURCE_WATCHER_METRICS_PORT": "99999",
                    "RESOURCE_WATCHER_LOG_LEVEL": "warn",
                ],
                overrides: ConfigOverrides()
            )
        }
        #expect(
            error.problems.contains(
                ConfigProblem(path: "env RESOURCE_WATCHER_PORT", message: #""abc" is not an integer"#)
            )
        )
        #expect(
            error.problems.contains(
                ConfigProblem(path: "env RESOURCE_WATCHER_POLL_INTERVAL", message: #""fast" is not a number"#)
            )
        )
        #expect(
            error.problems.contains(
                ConfigProblem(
                    path: "env RESOURCE_WATCHER_METRICS_PORT",
                    message: "must be between 1 and 65535, got 99999"
                )
            )
        )
        #expect(
            error.problems.contains(
                ConfigProblem(
                    path: "env RESOURCE_WATCHER_LOG_LEVEL",
                    message:
                        #"must be one of "trace", "debug", "info", "notice", "warning", "error", "critical", got "warn"; did you mean "warning"?"#
                )
            )
        )
        #expect(error.problems.count == 4)
        #expect(error.description.contains(#"env RESOURCE_WATCHER_PORT: "abc" is not an integer"#))
    }

    @Test func badFlagValuesAreProblemsNamedByTheFlag() throws {
        var overrides = ConfigOverrides()
        overrides.port = 0
        overrides.pollIntervalSeconds = 0.01
        overrides.listenAddress = "localhost"
        overrides.orchestratorURL = "localhost:5210"
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(path: nil, environment: ["RESOURCE_WATCHER_PORT": "6000"], overrides: overrides)
        }
        #expect(
            error.problems.map(\.path).sorted() == [
                "--listen-address", "--orchestrator-url", "--poll-interval", "--port",
            ]
        )
        #expect(error.problems.contains(ConfigProblem(path: "--port", message: "must be between 1 and 65535, got 0")))
        #expect(
            error.problems.contains(
                ConfigProblem(path: "--poll-interval", message: "must be between 0.1 and 86400, got 0.01")
            )
        )
        #expect(
            error.problems.contains(
                ConfigProblem(
                    path: "--listen-address",
                    message: #""localhost" is not an IPv4 or IPv6 address; use 127.0.0.1"#
                )
            )
        )
    }

    @Test func theConfigVariableNamesTheFileWhenNoPathIsGiven() throws {
        let config = try ConfigLoader.load(
            path: nil,
            environment: ["RESOURCE_WATCHER_CONFIG": examplePath],
            overrides: ConfigOverrides()
        )
        #expect(config.components.count == 2)
    }

    @Test func aMissingFileGivenExplicitlyIsAProblem() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(
                path: "/nonexistent/resource-watcher.json",
                environment: [:],
                overrides: ConfigOverrides()
            )
        }
        #expect(
            error.problems == [
                ConfigProblem(
                    path: "/nonexistent/resource-watcher.json",
                    message:
                        #"cannot read the config file "/nonexistent/resource-watcher.json": No such file or directory"#
                )
            ]
        )
    }

    @Test func aMissingFileNamedByTheEnvironmentIsAProblemOfTheVariable() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(
                path: nil,
                environment: ["RESOURCE_WATCHER_CONFIG": "/nonexistent.json", "RESOURCE_WATCHER_PORT": "x"],
                overrides: ConfigOverrides()
            )
        }
        #expect(error.problems.map(\.path) == ["env RESOURCE_WATCHER_CONFIG", "env RESOURCE_WATCHER_PORT"])
    }

    @Test func aConflictCausedByAnOverrideIsReportedUnderIt() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(
                path: examplePath,
                environment: ["RESOURCE_WATCHER_METRICS_PORT": "5220"],
                overrides: ConfigOverrides()
            )
        }
        #expect(
            error.problems == [
                ConfigProblem(
                    path: "env RESOURCE_WATCHER_METRICS_PORT",
                    message: "must differ from port (both are 5220)"
                )
            ]
        )
    }

    @Test func listeningOnAllInterfacesFromTheEnvironmentNeedsTokens() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(
                path: nil,
                environment: ["RESOURCE_WATCHER_LISTEN_ADDRESS": "0.0.0.0"],
                overrides: ConfigOverrides()
            )
        }
        #expect(error.problems.map(\.path) == ["env RESOURCE_WATCHER_LISTEN_ADDRESS"])
    }

    @Test func theDockerSocketComesFromTheFileOrDockerHost() throws {
        let file = Array(#"{"docker_socket": "/run/user/1000/docker.sock"}"#.utf8)
        #expect(try ConfigLoader.parse(json: file, source: "config.json").dockerSocket == "/run/user/1000/docker.sock")
        #expect(
            try ConfigLoader.parse(json: Array("{}".utf8), source: "config.json").dockerSocket == "/var/run/docker.sock"
        )
        let unixURL = Array(#"{"docker_socket": "unix:///srv/docker.sock"}"#.utf8)
        #expect(try ConfigLoader.parse(json: unixURL, source: "config.json").dockerSocket == "/srv/docker.sock")

        // Docker's own variable beats the file, as the RESOURCE_WATCHER_* ones do; empty means unset.
        let fromEnvironment = try ConfigLoader.load(
            path: examplePath,
            environment: ["DOCKER_HOST": "unix:///tmp/engine/docker.sock"],
            overrides: ConfigOverrides()
        )
        #expect(fromEnvironment.dockerSocket == "/tmp/engine/docker.sock")
        let empty = try ConfigLoader.load(
            path: examplePath,
            environment: ["DOCKER_HOST": ""],
            overrides: ConfigOverrides()
        )
        #expect(empty.dockerSocket == "/var/run/docker.sock")

        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.load(
                path: examplePath,
                environment: ["DOCKER_HOST": "tcp://10.0.0.5:2375"],
                overrides: ConfigOverrides()
            )
        }
        #expect(error.problems.map(\.path) == ["env DOCKER_HOST"])
        #expect(error.problems.first?.message.contains("not a unix socket") == true)
        let relative = try #require(throws: ConfigError.self) {
            try ConfigLoader.parse(json: Array(#"{"docker_socket": "docker.sock"}"#.utf8), source: "config.json")
        }
        #expect(relative.problems.map(\.path) == ["$.docker_socket"])
    }
}
