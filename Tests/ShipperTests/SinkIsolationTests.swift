import HTTPTransport
import Logging
import ServiceLifecycle
import Shipper
import Spool
import TestSupport
import Testing
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// The orchestrator contract, sinks' independence, and shutdown.
@Suite("Sink isolation, orchestrator and shutdown", .serialized)
struct SinkIsolationTests {
    @Test("the orchestrator gets every alert transition and reports; a resend carries the same Idempotency-Key")
    func orchestratorIdempotency() async throws {
        let orchestrator = try StrictServer("orchestrator_server.py")
        defer { orchestrator.stop() }
        let harness = try SinkHarness(consumers: ["orchestrator"])
        let encoder = OrchestratorSink(
            baseURL: orchestrator.baseURL,
            alertsPath: "/recommendations",
            reportsPath: "/reports"
        )
        harness.start(harness.sink("orchestrator", encoder))
        let now = RFC3339.nowUnixMilliseconds()
        try harness.append(SinkHarness.sampleBatch(at: now, firing: true))
        let last = try harness.append(SinkHarness.sampleBatch(at: now + 500, firing: false))
        try await harness.waitForCursor("orchestrator", atLeast: last)
        let log = try await orchestrator.requests()
        #expect(log.allSatisfy { $0["status"] as? Int == 200 }, "\(log.map { $0["reason"] ?? "" })")
        let accepted = try await orchestrator.accepted()
        let alerts = accepted["alerts"] as? [[String: Any]] ?? []
        #expect(alerts.compactMap { ($0["context"] as? [String: Any])?["state"] as? String } == ["firing", "resolved"])
        #expect((accepted["reports"] as? [Any])?.count == 1, "one report per minute of samples")

        // The same records read again by a fresh consumer (as after a crash before the cursor
        // moved): the orchestrator sees the same keys and drops the duplicates.
        harness.spool.close()
        let replayDirectory = harness.directory.path + "/replay"
        mkdir(replayDirectory, 0o755)
        for name in ProcessHelpers.names(in: harness.directory.path + "/spool", endingIn: ".seg") {
            _ = run("/bin/cp", [harness.directory.path + "/spool/" + name, replayDirectory + "/"])
        }
        let replay = try SinkHarness(consumers: ["orchestrator"], spoolDirectory: replayDirectory)
        replay.start(replay.sink("orchestrator", encoder))
        try await replay.waitForCursor("orchestrator", atLeast: last)
        #expect((try await orchestrator.accepted())["duplicates"] as? Int == 3)
        #expect((try await orchestrator.accepted())["alerts"].map { ($0 as? [Any])?.count ?? 0 } == 2)
        await replay.tearDown()
        await harness.tearDown()
    }

    @Test("Loki down for a minute does not delay Prometheus or the orchestrator, and loses nothing")
    func oneSinkDownDelaysNoOther() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        let orchestrator = try StrictServer("orchestrator_server.py")
        defer { orchestrator.stop() }
        let prometheusDirectory = TemporaryDirectory()
        defer { prometheusDirectory.remove() }
        let prometheus = try await PrometheusServer(directory: prometheusDirectory.path)
        defer { prometheus.kill() }
        try await loki.setFaults([], then: 503)

        let harness = try SinkHarness(consumers: ["prometheus", "loki", "orchestrator"])
        let remoteWrite = harness.sink(
            "prometheus",
            RemoteWriteSink(
                url: prometheus.writeURL,
                tenantHeader: false,
                instance: "h",
                maxSamplesPerRequest: 2000
            ),
            maxBackoff: .seconds(2)
        )
        harness.start(remoteWrite)
        let lokiSink = harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: false), maxBackoff: .seconds(2))
        harness.start(lokiSink)
        harness.start(
            harness.sink(
                "orchestrator",
                OrchestratorSink(
                    baseURL: orchestrator.baseURL,
                    alertsPath: "/recommendations",
                    reportsPath: nil
                ),
                maxBackoff: .seconds(2)
            )
        )
        // A minute of ticks every 0.5 s, each with an alert transition and a log line. After
        // each, the healthy sinks must have delivered it within 2 s.
        let start = ContinuousClock.now
        var appended: [(sequence: UInt64, at: ContinuousClock.Instant)] = []
        var worstDelay = Duration.zero
        var tick = 0
        while ContinuousClock.now - start < .seconds(60) {
            let sequence = try harness.append(SinkHarness.sampleBatch(firing: tick % 2 == 0))
            try harness.append(SinkHarness.logBatch(["tick \(tick)"]), kind: .logs)
            appended.append((sequence, .now))
            tick += 1
            let next = start + .milliseconds(500 * tick)
            // Meanwhile, check how far behind the healthy sinks are.
            while ContinuousClock.now < next {
                for (sequence, at) in appended {
                    let delivered =
                        (harness.spool.cursor(of: "prometheus") ?? 0) >= sequence
                        && (harness.spool.cursor(of: "orchestrator") ?? 0) >= sequence
                    if !delivered { worstDelay = max(worstDelay, .now - at) }
                }
                appended.removeAll {
                    (harness.spool.cursor(of: "prometheus") ?? 0) >= $0.sequence
                        && (harness.spool.cursor(of: "orchestrator") ?? 0) >= $0.sequence
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(worstDelay < .seconds(2), "a healthy sink fell \(worstDelay) behind while Loki was down")
        #expect((try await orchestrator.accepted())["alerts"].map { ($0 as? [Any])?.count ?? 0 } == tick)
        let lokiAttempts = try await loki.requests().count
        #expect(lokiAttempts > 10, "Loki was retried (\(lokiAttempts) attempts)")
        #expect(lokiSink.metrics.snapshot(lagRecords: 1, nowUnixMilliseconds: RFC3339.nowUnixMilliseconds()).isFailing)

        // Loki recovers and receives the whole minute, in order.
        try await loki.setFaults([])
        try await harness.waitForCursor("loki", atLeast: harness.spool.statistics().lastSequence, timeout: .seconds(30))
        let accepted = try await loki.accepted()
        let entries = (accepted["streams"] as? [[String: Any]] ?? []).flatMap { $0["entries"] as? [[Any]] ?? [] }
        let tickLines = entries.compactMap { $0.last as? String }.filter { $0.hasPrefix("tick ") }
        #expect(tickLines == (0..<tick).map { "tick \($0)" })
        let count = try await prometheus.query("count_over_time(resource_watcher_component_cpu_usage[5m])")
        #expect(((count.first?["value"] as? [Any])?.last as? String) == String(tick))
        await harness.tearDown()
    }

    @Test("on graceful shutdown an in-flight request finishes within the bound and the cursor is saved")
    func gracefulShutdownFinishesInFlight() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        let harness = try SinkHarness(consumers: ["loki"])
        let sink = harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: false), shutdownGrace: .seconds(2))
        let group = ServiceGroup(services: [sink], logger: harness.logger)
        let running = Task { try await group.run() }

        // A slow answer (1 s) inside the bound: delivered, and the cursor moves.
        try await loki.setSlowAnswers(delayMilliseconds: 1000)
        let sequence = try harness.append(SinkHarness.logBatch(["in flight"]), kind: .logs)
        try await loki.waitForRequestsStarted(1)
        await group.triggerGracefulShutdown()
        let started = ContinuousClock.now
        try await running.value
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(harness.spool.cursor(of: "loki") == sequence, "delivered during shutdown and saved")

        // A stalled answer (30 s) beyond the bound: aborted after 2 s, the cursor stays, and the
        // record is sent again by the next run.
        let second = SinkService(
            name: "loki",
            encoder: LokiSink(url: loki.baseURL, tenantHeader: false),
            spool: harness.spool,
            transport: CurlTransport(userAgent: "t"),
            retryPolicy: RetryPolicy(minimumBackoff: .milliseconds(20), maximumBackoff: .seconds(1)),
            ioThreadPool: harness.pool,
            logger: harness.logger,
            shutdownGrace: .seconds(2),
            idlePollInterval: .milliseconds(20)
        )
        let secondGroup = ServiceGroup(services: [second], logger: harness.logger)
        let secondRunning = Task { try await secondGroup.run() }
        try await loki.setSlowAnswers(delayMilliseconds: 30_000)
        let stalled = try harness.append(SinkHarness.logBatch(["stalled"]), kind: .logs)
        try await loki.waitForRequestsStarted(2)
        await secondGroup.triggerGracefulShutdown()
        let stopping = ContinuousClock.now
        try await secondRunning.value
        let took = ContinuousClock.now - stopping
        #expect(took >= .seconds(2) && took < .seconds(5), "shutdown took \(took)")
        #expect((harness.spool.cursor(of: "loki") ?? 0) < stalled)
        await harness.tearDown()
    }
}
