import HTTPTransport
import Logging
import NIOPosix
import Shipper
import Spool
import SwiftProtobuf
import TestSupport
import WatcherModel
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// Backlog drain after an outage: the remote-write sink emptying its spool into a fresh local
/// Prometheus, next to a Prometheus agent (`--enable-feature=agent`) emptying its WAL of the same
/// samples into another fresh Prometheus, in the same run.
///
/// - Same backlog: the agent's WAL is filled through its own remote-write receiver with the
///   series, labels, values and timestamps the spool holds, one commit per tick as a scrape
///   makes them.
/// - Same outage: both senders start against a port nobody listens on, with the same backoff
///   bounds, and fail `outageAttempts` times (both backoffs at their cap) before the receiver
///   starts there.
/// - Same clock: from the receiver answering `/-/ready` until it has appended every sample (and,
///   for us, the cursor is acknowledged), polled the same way in both runs. Our sink reads and
///   encodes its first chunk before its first send, during the outage: that time is added to our
///   drain, and its CPU to our CPU, as if the sink had started cold with the receiver.
/// - The agent's `batch_send_deadline` is 200 ms: its default 5 s would hold the last partial
///   batch of each shard back, which with live data arriving never happens.
struct ShipperBench {
    /// Components per tick; each gives the seed's 6 metrics, so 6 × this many series.
    static let componentCount = 500
    static let tickCount = 200
    static let tickSpacingMilliseconds: Int64 = 500
    /// Ours and the agent's `max_samples_per_send` (Prometheus' default since 2.45; 2.42 had 500).
    static let maxSamplesPerRequest = 2000
    /// Both senders' retry bounds (the agent's `queue_config` `min_backoff` / `max_backoff`).
    static let minimumBackoffMilliseconds = 30
    static let maximumBackoffMilliseconds = 1000
    /// Failed sends before the receiver comes up: 30 ms doubling reaches the 1 s cap at the 6th.
    static let outageAttempts = 8
    /// How often the bench asks the receiver how many samples it has appended.
    static let pollInterval = Duration.milliseconds(50)
    static let instance = "ai-host-01"
    /// The seed's component metrics, as the remote-write sink names them.
    static let metricNames = [
        "resource_watcher_component_cpu_usage", "resource_watcher_component_memory_usage",
        "resource_watcher_component_memory_usage_percent", "resource_watcher_component_disk_usage",
        "resource_watcher_component_network_in", "resource_watcher_component_network_out",
    ]
    static var seriesCount: Int { componentCount * metricNames.count }
    static var sampleCount: Int { seriesCount * tickCount }

    let workDirectory: String
    let logger: Logger

    /// One sender's drain, from its receiver ready to every sample appended.
    private struct Drain {
        var seconds = 0.0
        /// From the receiver ready to the end, while the bench polled it.
        var watchedSeconds = 0.0
        var firstDeliverySeconds = 0.0
        var cpuSeconds = 0.0
        var receiverCPUSeconds = 0.0
        /// CPU the bench process used meanwhile (only polling, in the agent's run).
        var benchCPUSeconds = 0.0
        /// What the receiver holds afterwards: its appended counter, and PromQL counts.
        var appendedSamples = 0
        var seriesQueried = 0
        var samplesQueried = 0
        var detail = ""
        var samplesPerSecond: Double { Double(ShipperBench.sampleCount) / seconds }
        var cpuSecondsPerThousand: Double { cpuSeconds / Double(ShipperBench.sampleCount) * 1000 }
    }

    func run() async throws {
        let version =
            try captureOutput("/usr/bin/prometheus", ["--version"]).split(separator: " ").dropFirst(2).first ?? "?"
        print(
            "== shipper: backlog drain after an outage, \(Self.tickCount) ticks x \(Self.componentCount) components x"
                + " \(Self.metricNames.count) metrics = \(Self.sampleCount) samples in \(Self.seriesCount) series,"
                + " each sender into a fresh local Prometheus \(version)"
        )
        let directory = workDirectory + "/shipper"
        _ = try captureOutput("/bin/rm", ["-rf", directory])
        mkdir(directory, 0o755)
        defer { _ = try? captureOutput("/bin/rm", ["-rf", directory]) }

        // The agent starts first: its WAL watcher ships only samples newer than its own start,
        // so the backlog (both senders') is dated from just after it.
        let agentDirectory = directory + "/agent"
        mkdir(agentDirectory, 0o755)
        let receiverPort = try ProcessHelpers.freeLoopbackPort()
        let agentPort = try ProcessHelpers.freeLoopbackPort()
        writeFile(agentDirectory + "/agent.yml", Self.agentConfiguration(receiverPort: receiverPort))
        let agent = try PrometheusProcess(
            [
                "--enable-feature=agent", "--config.file=\(agentDirectory)/agent.yml",
                "--storage.agent.path=\(agentDirectory)/wal", "--web.listen-address=127.0.0.1:\(agentPort)",
                "--web.enable-remote-write-receiver",
            ],
            port: agentPort,
            logPath: agentDirectory + "/agent.log"
        )
        defer { agent.stop() }
        try await agent.waitUntilReady()
        let batches = Self.backlog(firstTimestampUnixMilliseconds: RFC3339.nowUnixMilliseconds() + 1000)

        let theirs = try await drainAgent(
            agent,
            batches: batches,
            receiverPort: receiverPort,
            directory: agentDirectory
        )
        agent.stop()
        var ours = try await drainSpool(batches, directory: directory + "/ours")
        let pollingCPU = theirs.benchCPUSeconds / theirs.watchedSeconds * ours.watchedSeconds
        ours.detail += "; of our CPU, about \(format(pollingCPU, digits: 3)) s is the bench polling the receiver"

        print("   resource-watcher: \(describe(ours))")
        print("   prometheus agent: \(describe(theirs))")
        print(
            "   drain: resource-watcher \(format(ours.samplesPerSecond)) samples/s,"
                + " \(format(ours.cpuSecondsPerThousand, digits: 4)) CPU s per 1000 samples"
                + "  | baseline prometheus agent \(version): \(format(theirs.samplesPerSecond)) samples/s,"
                + " \(format(theirs.cpuSecondsPerThousand, digits: 4)) CPU s per 1000 samples"
                + "  | ratio drain \(format(ours.samplesPerSecond / theirs.samplesPerSecond, digits: 2))x,"
                + " CPU \(format(ours.cpuSecondsPerThousand / theirs.cpuSecondsPerThousand, digits: 2))x"
                + " (target >= 1x, <= 0.5x)"
        )
    }

    private func describe(_ drain: Drain) -> String {
        "drained in \(format(drain.seconds, digits: 2)) s, \(drain.detail); sender CPU \(format(drain.cpuSeconds, digits: 3)) s,"
            + " receiver CPU \(format(drain.receiverCPUSeconds, digits: 3)) s; the receiver appended"
            + " \(drain.appendedSamples) samples and PromQL counts \(drain.seriesQueried) series, \(drain.samplesQueried) samples"
    }

    // MARK: - Prometheus agent

    private func drainAgent(
        _ agent: PrometheusProcess,
        batches: [ResourceWatcher_V1_Batch],
        receiverPort: Int,
        directory: String
    ) async throws -> Drain {
        // The backlog goes into the agent's WAL through its own remote-write receiver, one
        // commit per tick as a scrape would make it, while its remote-write target is down.
        let client = CurlTransport(userAgent: "resource-watcher-bench")
        let perTick = RemoteWriteEncoder(instance: Self.instance, maxSamplesPerRequest: Self.seriesCount)
        for batch in batches {
            for request in perTick.requests(for: [batch]) {
                let response = try await client.send(Self.remoteWrite(request, url: agent.baseURL + "/api/v1/write"))
                guard response.isSuccess else {
                    let body = String(decoding: response.body.prefix(200), as: UTF8.self)
                    throw BenchFailure("the agent refused the backlog: HTTP \(response.status) \(body)")
                }
            }
        }
        // Every attempt, failed or not, is observed in the batch duration histogram.
        let attempts = "prometheus_remote_storage_sent_batch_duration_seconds_count"
        let retried = "prometheus_remote_storage_samples_retried_total"
        try await poll("the agent's failed sends", timeout: .seconds(60)) {
            try await agent.metric(attempts) >= Double(Self.outageAttempts)
        }
        let attemptsBefore = try await agent.metric(attempts)
        let retriedBefore = try await agent.metric(retried)
        let outageCPU = agent.cpuSeconds
        let outageStart = ContinuousClock.now

        let receiver = try startReceiver(port: receiverPort, directory: directory + "/receiver")
        defer { receiver.stop() }
        try await receiver.waitUntilReady()
        let start = ContinuousClock.now
        let agentCPU = agent.cpuSeconds
        let idleCPURate = (agentCPU - outageCPU) / (start - outageStart).inSeconds
        let receiverCPU = receiver.cpuSeconds
        let benchCPU = ProcessHelpers.cpuSeconds()
        var drain = try await watch(receiver, from: start) { appended in appended >= Self.sampleCount }
        drain.cpuSeconds = agent.cpuSeconds - agentCPU
        drain.receiverCPUSeconds = receiver.cpuSeconds - receiverCPU
        drain.benchCPUSeconds = ProcessHelpers.cpuSeconds() - benchCPU

        let requests = Int(try await agent.metric(attempts) - attemptsBefore)
        let retriedSamples = Int(try await agent.metric(retried) - retriedBefore)
        let shards = Int(try await agent.metric("prometheus_remote_storage_shards"))
        try await verify(receiver, lastTimestamp: batches.last!.timestampUnixMs, drain: &drain)
        drain.detail =
            "first sample after \(format(drain.firstDeliverySeconds, digits: 2)) s; \(requests) send attempts"
            + " (\(retriedSamples) samples retried), \(shards) shard(s) at the end; CPU while its receiver started"
            + " \(format(idleCPURate, digits: 3)) s/s"
        return drain
    }

    private static func agentConfiguration(receiverPort: Int) -> String {
        // capacity and max_samples_per_send at Prometheus' current defaults, backoff as ours,
        // batch_send_deadline short (see the type's comment); shards at their defaults (1 to 200).
        """
        global:
          scrape_interval: 1m
        remote_write:
          - url: http://127.0.0.1:\(receiverPort)/api/v1/write
            queue_config:
              capacity: 10000
              max_samples_per_send: \(maxSamplesPerRequest)
              batch_send_deadline: 200ms
              min_backoff: \(minimumBackoffMilliseconds)ms
              max_backoff: \(maximumBackoffMilliseconds)ms

        """
    }

    // MARK: - resource-watcher

    private func drainSpool(_ batches: [ResourceWatcher_V1_Batch], directory: String) async throws -> Drain {
        mkdir(directory, 0o755)
        let spool = try Spool(directory: directory + "/spool", consumers: ["prometheus"], logger: logger)
        defer { spool.close() }
        for batch in batches { _ = try spool.append(kind: .sample, payload: try batch.serializedBytes()) }
        let lastSequence = spool.statistics().lastSequence

        // Wired as `run` wires it, from a config with only the remote-write sink on.
        let receiverPort = try ProcessHelpers.freeLoopbackPort()
        var config = Config()
        config.sinks.prometheusRemoteWrite = .init(
            url: "http://127.0.0.1:\(receiverPort)/api/v1/write",
            maxSamplesPerRequest: Self.maxSamplesPerRequest
        )
        config.retry = RetryConfig(
            minBackoffMs: Self.minimumBackoffMilliseconds,
            maxBackoffMs: Self.maximumBackoffMilliseconds
        )
        let ioThreadPool = NIOThreadPool(numberOfThreads: 2)
        ioThreadPool.start()
        let sinks = ShipperSinks(
            config: config,
            spool: spool,
            ioThreadPool: ioThreadPool,
            instance: Self.instance,
            userAgent: "resource-watcher/bench",
            logger: logger
        )
        let service = sinks.services[0]
        let metrics = sinks.metrics[0]
        func snapshot() -> SinkSnapshot { metrics.snapshot(lagRecords: 0, nowUnixMilliseconds: 0) }

        // Our CPU: from the sink's start through the outage, then from the receiver ready to the
        // end; not the receiver's startup, when the sink only waits and the bench polls /-/ready.
        let sinkStart = ContinuousClock.now
        let startCPU = ProcessHelpers.cpuSeconds()
        let sink = Task { try await service.run() }
        var drain: Drain
        do {
            defer { sink.cancel() }
            try await poll("resource-watcher's first send", timeout: .seconds(60), every: .milliseconds(1)) {
                snapshot().failedAttempts >= 1
            }
            let firstChunkSeconds = (ContinuousClock.now - sinkStart).inSeconds
            try await poll("resource-watcher's failed sends", timeout: .seconds(60)) {
                snapshot().failedAttempts >= UInt64(Self.outageAttempts)
            }
            let outageCPU = ProcessHelpers.cpuSeconds() - startCPU
            let before = snapshot()

            let receiver = try startReceiver(port: receiverPort, directory: directory + "/receiver")
            defer { receiver.stop() }
            try await receiver.waitUntilReady()
            let start = ContinuousClock.now
            let drainCPU = ProcessHelpers.cpuSeconds()
            let receiverCPU = receiver.cpuSeconds
            drain = try await watch(receiver, from: start) { _ in spool.cursor(of: "prometheus") == lastSequence }
            drain.cpuSeconds = outageCPU + ProcessHelpers.cpuSeconds() - drainCPU
            drain.receiverCPUSeconds = receiver.cpuSeconds - receiverCPU
            drain.seconds += firstChunkSeconds
            let after = snapshot()
            try await verify(receiver, lastTimestamp: batches.last!.timestampUnixMs, drain: &drain)
            drain.detail =
                "\(format(drain.watchedSeconds, digits: 2)) s from ready (first sample after"
                + " \(format(drain.firstDeliverySeconds, digits: 2)) s) + \(format(firstChunkSeconds, digits: 2)) s"
                + " encoding the first chunk in the outage; \(after.sentRequests) requests"
                + " (\(after.failedAttempts - before.failedAttempts) failed); \(format(outageCPU, digits: 3)) CPU s"
                + " spent before the receiver started"
        } catch {
            _ = try? await sink.value
            try? await ioThreadPool.shutdownGracefully()
            throw error
        }
        _ = try? await sink.value
        try await ioThreadPool.shutdownGracefully()
        return drain
    }

    // MARK: - Receiver

    private func startReceiver(port: Int, directory: String) throws -> PrometheusProcess {
        mkdir(directory, 0o755)
        writeFile(directory + "/prometheus.yml", "global:\n  scrape_interval: 1m\n")
        return try PrometheusProcess(
            [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver",
            ],
            port: port,
            logPath: directory + "/prometheus.log"
        )
    }

    /// Polls the receiver's appended-samples counter from `start` until `isDone` (given that
    /// count) holds and every sample is in; fails after 2 minutes.
    private func watch(
        _ receiver: PrometheusProcess,
        from start: ContinuousClock.Instant,
        isDone: (Int) -> Bool
    ) async throws -> Drain {
        var drain = Drain()
        var firstDelivery: ContinuousClock.Instant?
        let deadline = start + .seconds(120)
        while true {
            let appended = Int(try await receiver.metric("prometheus_tsdb_head_samples_appended_total"))
            let now = ContinuousClock.now
            if appended > 0 && firstDelivery == nil { firstDelivery = now }
            if isDone(appended) && appended >= Self.sampleCount {
                drain.seconds = (now - start).inSeconds
                drain.watchedSeconds = drain.seconds
                drain.firstDeliverySeconds = ((firstDelivery ?? now) - start).inSeconds
                drain.appendedSamples = appended
                return drain
            }
            guard now < deadline else {
                throw BenchFailure(
                    "drain incomplete after 120 s: the receiver appended \(appended) of \(Self.sampleCount) samples"
                )
            }
            try await Task.sleep(for: Self.pollInterval)
        }
    }

    /// Counts through PromQL what the receiver holds; fails unless it is the whole backlog.
    private func verify(_ receiver: PrometheusProcess, lastTimestamp: Int64, drain: inout Drain) async throws {
        drain.seriesQueried = Int(
            try await receiver.query(
                "count({__name__=~\"resource_watcher_component_.+\"})",
                atUnixMilliseconds: lastTimestamp
            ) ?? 0
        )
        // count_over_time drops the metric name, so one query per metric.
        let rangeSeconds = Int64(Self.tickCount) * Self.tickSpacingMilliseconds / 1000 + 60
        drain.samplesQueried = 0
        for metric in Self.metricNames {
            let promql = "sum(count_over_time(\(metric)[\(rangeSeconds)s]))"
            drain.samplesQueried += Int(try await receiver.query(promql, atUnixMilliseconds: lastTimestamp) ?? 0)
        }
        guard drain.seriesQueried == Self.seriesCount, drain.samplesQueried == Self.sampleCount,
            drain.appendedSamples == Self.sampleCount
        else {
            throw BenchFailure(
                "delivery check failed: the receiver holds \(drain.seriesQueried) of \(Self.seriesCount) series and"
                    + " \(drain.samplesQueried) of \(Self.sampleCount) samples (appended \(drain.appendedSamples))"
            )
        }
    }

    // MARK: - Helpers

    /// Polls `condition` until it holds; fails after `timeout`.
    private func poll(
        _ what: String,
        timeout: Duration,
        every interval: Duration = .milliseconds(10),
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw BenchFailure("timed out waiting for \(what)") }
            try await Task.sleep(for: interval)
        }
    }

    private func writeFile(_ path: String, _ text: String) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = Array(text.utf8).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }
}
