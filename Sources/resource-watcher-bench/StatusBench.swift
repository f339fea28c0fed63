import Logging
import NIOPosix
import ServiceLifecycle
import Spool
import StatusAPI
import SwiftProtobuf
import TestSupport
import WatcherModel
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics/components` for one tenant with 50 components, with a bearer token (SHA-256
/// and constant-time check on every request), driven by `wrk` (Debian's), next to the same `wrk`
/// run against a Prometheus server's `/-/healthy` on the same machine as the reference.
struct StatusBench {
    static let componentCount = 50
    static let duration = "10s"
    static let connections = 32
    let workDirectory: String
    let logger: Logger

    func run() async throws {
        guard access("/usr/bin/wrk", X_OK) == 0 else {
            throw BenchFailure("wrk is not installed (make deps installs it)")
        }
        let directory = workDirectory + "/status"
        _ = try captureOutput("/bin/rm", ["-rf", directory])
        mkdir(directory, 0o755)
        defer { _ = try? captureOutput("/bin/rm", ["-rf", directory]) }

        let token = "bench-token-0123456789"
        var config = Config()
        config.clientID = "default"
        config.port = try ProcessHelpers.freeLoopbackPort()
        config.metricsPort = try ProcessHelpers.freeLoopbackPort()
        config.spool.directory = directory + "/spool"
        config.auth = AuthConfig(tokens: [.init(clientID: "default", sha256: TokenAuthenticator.sha256Hex(token))])
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let spool = try Spool(directory: config.spool.directory, logger: logger)
        var tick = RealisticTick()
        var batch = tick.next().sample
        for index in batch.components.indices { batch.components[index].clientID = "default" }
        _ = try spool.append(kind: .sample, payload: try batch.serializedBytes())
        let state = StatusState(
            config: config,
            spool: spool,
            sinks: [],
            usage: UsageLedger(),
            ticks: TickStatistics(),
            version: "bench",
            agentID: "bench/default",
            ioThreadPool: pool
        )
        let group = ServiceGroup(services: StatusServer.services(state: state, logger: logger), logger: logger)
        let server = Task { try await group.run() }
        defer { server.cancel() }
        let url = "http://127.0.0.1:\(config.port)/metrics/components?client_id=default"
        try await waitUntilAnswering(url, token: token)
        let body = try captureOutput("/usr/bin/curl", ["-s", "-H", "Authorization: Bearer \(token)", url])
        let components = body.components(separatedBy: "\"component\":").count - 1
        guard components == Self.componentCount else {
            throw BenchFailure(
                "expected \(Self.componentCount) components in the answer, got \(components): \(body.prefix(200))"
            )
        }
        let ours = try wrk(url, headers: ["Authorization: Bearer \(token)"])
        await group.triggerGracefulShutdown()
        _ = try? await server.value
        spool.close()
        try? await pool.shutdownGracefully()

        let prometheusPort = try ProcessHelpers.freeLoopbackPort()
        writeConfig(directory + "/prometheus.yml")
        let prometheus = try PrometheusProcess(
            [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/prometheus",
                "--web.listen-address=127.0.0.1:\(prometheusPort)",
            ],
            port: prometheusPort,
            logPath: directory + "/prometheus.log"
        )
        defer { prometheus.stop() }
        try await prometheus.waitUntilReady()
        let reference = try wrk(prometheus.baseURL + "/-/healthy", headers: [])

        print(
            "== status API: GET /metrics/components (\(Self.componentCount) components, \(body.utf8.count) bytes, bearer token) with wrk -t2 -c\(Self.connections) -d\(Self.duration)"
        )
        print(
            "   resource-watcher: \(Int(ours.requestsPerSecond)) requests/s, p99 \(format(ours.p99Milliseconds)) ms, \(ours.non2xx) non-2xx"
                + "  | baseline prometheus /-/healthy: \(Int(reference.requestsPerSecond)) requests/s, p99 \(format(reference.p99Milliseconds)) ms"
                + "  | ratio \(format(ours.requestsPerSecond / reference.requestsPerSecond))x requests/s (target >= 10000 requests/s, p99 <= 10 ms)"
        )
    }

    private func writeConfig(_ path: String) {
        let text = "global:\n  scrape_interval: 1m\n"
        _ = text.withCString { pointer in
            let file = fopen(path, "w")
            defer { if file != nil { fclose(file) } }
            return fputs(pointer, file)
        }
    }

    private func waitUntilAnswering(_ url: String, token: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let status = try captureOutput(
                "/usr/bin/curl",
                [
                    "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    "-H", "Authorization: Bearer \(token)", url,
                ]
            )
            if status == "200" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchFailure("the status API did not answer at \(url)")
    }

    private func wrk(_ url: String, headers: [String]) throws -> WrkLoad {
        try runWrk(url, threads: 2, connections: Self.connections, duration: Self.duration, headers: headers)
    }

    private func format(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return "\(rounded)"
    }
}
