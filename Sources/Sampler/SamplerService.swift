public import Logging
public import ModelUsage
public import NIOPosix
public import ServiceLifecycle
public import Spool
import SwiftProtobuf
public import WatcherModel
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// The tick loop: every poll interval, sample every component and append one batch to the spool,
/// then the log batches: the agent's own records, the lines tailed from components' `log_files`,
/// and container components' stdout and stderr.
///
/// Sampling, tailing and appending block (procfs and log reads, fsync), so each tick runs on
/// `ioThreadPool`. A failed append (disk full) drops that sample batch and the agent's records; the
/// spool counts and logs it, and the loop goes on. Tailed lines are not dropped: their positions
/// stay put, and the next tick reads them again. Nor are the batch's alert transitions: the next
/// batch carries them (`TickComposer.notAppended(_:)`, bounded), so every `firing` and
/// `resolved` reaches the destinations once, in the first batch stored after it happened.
public struct SamplerService: Service {
    let interval: Duration
    let composer: TickComposer
    let spool: Spool
    let ioThreadPool: NIOThreadPool
    /// The agent's own log records, written each tick as a log batch.
    let agentLogs: LogBuffer
    /// Tails components' `log_files`; nil when there are none. Positions live in the spool directory.
    let logTailer: LogFileTailer?
    /// Reads container components' logs from the engine; nil when there are none. Positions live in
    /// the spool directory.
    let containerLogs: ContainerLogReader?
    let agentID: String
    let logger: Logger
    /// Model usage totals, copied into every sample batch.
    let usageLedger: UsageLedger?
    /// Where each tick's duration is reported.
    let tickStatistics: TickStatistics?
    /// Components' LLM-server metrics and Ollama's loaded models; nil when none has either.
    let modelSources: ModelSources?
    /// Where scraped usage goes (durably, before it counts); nil drops it (tests without a ledger).
    let usageRecorder: UsageRecorder?
    /// Outside input cut or refused, by component and reason.
    let sourceLimits: SourceLimits

    public init(
        config: Config,
        agentID: String,
        spool: Spool,
        ioThreadPool: NIOThreadPool,
        agentLogs: LogBuffer,
        logger: Logger,
        usageLedger: UsageLedger? = nil,
        tickStatistics: TickStatistics? = nil,
        usageRecorder: UsageRecorder? = nil,
        sourceLimits: SourceLimits = SourceLimits()
    ) {
        self.sourceLimits = sourceLimits
        self.usageLedger = usageLedger
        self.usageRecorder = usageRecorder
        self.modelSources = ModelSources(
            config: config,
            agentStartUnixSeconds: Double(RFC3339.nowUnixMilliseconds()) / 1000,
            logger: logger,
            limits: sourceLimits
        )
        self.tickStatistics = tickStatistics
        self.agentLogs = agentLogs
        self.agentID = agentID
        self.interval = .milliseconds(Int64((config.pollIntervalSeconds * 1000).rounded()))
        // One engine for the stats and the logs: one negotiated API version, one socket.
        let dockerEngine = DockerEngine(socketPath: config.dockerSocket)
        self.composer = TickComposer(
            config: config,
            agentID: agentID,
            dockerEngine: dockerEngine,
            logger: logger,
            sourceLimits: sourceLimits,
            ioThreadPool: ioThreadPool
        )
        // Alerts active before a restart stay active, and batch times keep moving forward (the
        // head holds the last batch).
        if let record = spool.latest(.sample), let last = try? ResourceWatcher_V1_Batch(serializedBytes: record.payload)
        {
            composer.restore(from: last)
            if !last.activeAlerts.isEmpty {
                logger.info(
                    "alerts restored from the last batch",
                    metadata: ["alerts.active": "\(last.activeAlerts.count)"]
                )
            }
        }
        self.spool = spool
        self.ioThreadPool = ioThreadPool
        self.logger = logger
        self.logTailer = LogFileTailer(
            components: config.components,
            spoolDirectory: spool.directory,
            logger: logger,
            sourceLimits: sourceLimits
        )
        // A client of its own: a slow logs request must not hold up the stats behind it.
        self.containerLogs = ContainerLogReader(
            components: config.components,
            spoolDirectory: spool.directory,
            client: dockerEngine.makeClient(),
            discoversContainers: config.discovery.enabled,
            logger: logger
        )
    }

    /// How often `data_paths` are walked: walking is slow, and disk occupancy changes slowly.
    static let diskRefreshInterval = Duration.seconds(60)

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    if composer.needsDiskRefresh { group.addTask { try await refreshDiskUsage() } }
                    // The engine's events keep the container table current between ticks.
                    if composer.watchesContainers {
                        group.addTask {
                            await composer.watchContainerEngine()
                            try Task.checkCancellation()
                        }
                    }
                    group.addTask { try await tickLoop() }
                    try await group.next()
                    group.cancelAll()
                }
            }
        } catch is CancellationError {
            logger.debug("sampler stopped")
        }
    }

    private func tickLoop() async throws {
        var deadline = ContinuousClock.now
        while true {
            try await tick()
            deadline += interval
            // After a stall (suspended host, slow disk) skip missed ticks rather than burst.
            if deadline < .now { deadline = .now + interval }
            try await Task.sleep(until: deadline, clock: .continuous)
        }
    }

    private func refreshDiskUsage() async throws {
        let diskUsage = composer.sampler.diskUsage
        let ioThreadPool = self.ioThreadPool
        while true {
            if !diskUsage.isEmpty { try await ioThreadPool.runIfActive { diskUsage.refresh() } }
            await composer.refreshContainerDiskUsage { paths in
                (try? await ioThreadPool.runIfActive { DiskUsage.allocatedBytes(under: paths) }) ?? 0
            }
            try await Task.sleep(for: Self.diskRefreshInterval)
        }
    }

    /// Writes the agent's buffered log records to the spool now (at shutdown, after the last tick).
    public func flushAgentLogs() async throws {
        let records = agentLogs.drain()
        guard !records.isEmpty else { return }
        let (agentID, spool) = (self.agentID, self.spool)
        _ = try await ioThreadPool.runIfActive {
            Self.appendLogs(records, tailer: nil, agentID: agentID, at: RFC3339.nowUnixMilliseconds(), to: spool)
        }
    }

    /// Payload bytes (roughly: message and source text) above which log records start a new batch,
    /// so a tick that tails several busy files still appends frames of a bounded size.
    static let maxLogBatchBytes = 4 << 20

    /// Appends the agent's `records`, the lines `tailer` reads now and the container lines already
    /// read (`containerLogs`) as log batches, then commits the tail and container positions, only
    /// if every batch was appended: a failed append (the spool counts and logs it) drops the
    /// agent's records, while the tailed and container lines are read again next tick.
    /// Returns whether everything was appended. Blocking.
    @discardableResult
    static func appendLogs(
        _ records: [ResourceWatcher_V1_LogRecord],
        tailer: LogFileTailer?,
        containerLogs: (reader: ContainerLogReader, read: LogSourceRead<ContainerLogPosition>)? = nil,
        agentID: String,
        at unixMilliseconds: Int64,
        to spool: Spool
    ) -> Bool {
        let tailed = tailer?.read()
        let records = records + (tailed?.records ?? []) + (containerLogs?.read.records ?? [])
        var batchStart = records.startIndex
        var batchBytes = 0
        for index in records.indices {
            batchBytes += records[index].message.utf8.count + records[index].source.utf8.count
            if batchBytes >= maxLogBatchBytes || index == records.index(before: records.endIndex) {
                guard appendLogBatch(records[batchStart...index], agentID: agentID, at: unixMilliseconds, to: spool)
                else {
                    return false
                }
                batchStart = index + 1
                batchBytes = 0
            }
        }
        if let tailer, let tailed { tailer.commit(tailed) }
        if let containerLogs { containerLogs.reader.commit(containerLogs.read) }
        return true
    }

    /// One log batch; false when it could not be appended. Blocking.
    private static func appendLogBatch(
        _ records: ArraySlice<ResourceWatcher_V1_LogRecord>,
        agentID: String,
        at unixMilliseconds: Int64,
        to spool: Spool
    ) -> Bool {
        var logs = ResourceWatcher_V1_Batch()
        logs.schemaVersion = 1
        logs.agentID = agentID
        logs.timestampUnixMs = unixMilliseconds
        logs.logs = Array(records)
        guard let payload: [UInt8] = try? logs.serializedBytes() else { return false }
        return (try? spool.append(kind: .logs, payload: payload)) != nil
    }

    /// Puts a tick's loaded models and kept series on their components' samples.
    static func attach(_ reading: ModelSources.Reading, to batch: inout ResourceWatcher_V1_Batch) {
        for index in batch.components.indices {
            let name = batch.components[index].name
            if let loaded = reading.loadedModels[name] { batch.components[index].loadedModels = loaded }
            if let kept = reading.customMetrics[name] { batch.components[index].customMetrics = kept }
        }
    }

    private func tick() async throws {
        let started = ContinuousClock.now
        let composer = self.composer
        let spool = self.spool
        let intervalSeconds = interval.inSeconds
        let logger = self.logger
        let agentLogs = self.agentLogs
        let logTailer = self.logTailer
        let agentID = self.agentID
        let usageLedger = self.usageLedger
        let containerLogReader = self.containerLogs
        if let containerLogReader, !containerLogReader.hasLoadedPositions {
            try await ioThreadPool.runIfActive { containerLogReader.loadPositions() }
        }
        // The engine gets at most half the interval (and 5 s): a stuck engine never stalls the tick.
        // Stats and logs go over two transports at once, so they share that budget.
        let engineTimeout = min(interval / 2, .seconds(5))
        async let containerLogsRead = containerLogReader?.read(
            timeout: engineTimeout,
            discovered: composer.discoveredContainerLogSources()
        )
        // Ports are scraped only while the component's own processes listen on them (the tree
        // of the last tick; reading sockets blocks on /proc, so on the I/O pool).
        let portsToCheck = modelSources?.portsToCheck ?? [:]
        let ownedPorts =
            portsToCheck.isEmpty
            ? [:] : try await ioThreadPool.runIfActive { composer.ownedPorts(portsToCheck) }
        async let modelReading = modelSources?.read(
            timeout: engineTimeout,
            nowUnixMilliseconds: RFC3339.nowUnixMilliseconds(),
            discovered: composer.discoveredUsageSources(),
            ownedPorts: ownedPorts
        )
        let containerSamples = await composer.sampleContainers(timeout: engineTimeout)
        let containerLogs = await containerLogsRead.flatMap { read in containerLogReader.map { ($0, read) } }
        let models = await modelReading
        if let models, !models.usage.isEmpty, let usageRecorder {
            // Durable before the sample batch below carries the new totals.
            do {
                var events: [ResourceWatcher_V1_ModelUsage] = []
                for (component, usage) in models.usage.sorted(by: { $0.key < $1.key }) {
                    events += usageRecorder.bounded(usage, component: component)
                }
                try await usageRecorder.record(events)
            } catch {
                logger.error("scraped model usage could not be stored", metadata: ["error": "\(error)"])
            }
        }
        try await ioThreadPool.runIfActive {
            var batch = composer.composeBatch(intervalSeconds: intervalSeconds, containerSamples: containerSamples)
            // Unless this batch is appended, its alert transitions ride in the next one.
            var appended = false
            defer { if !appended { composer.notAppended(batch) } }
            if let models { Self.attach(models, to: &batch) }
            // Carried transitions were logged in the tick they happened.
            for transition in TickComposer.newTransitions(in: batch) {
                logger.notice(
                    transition.state == .firing ? "alert firing" : "alert resolved",
                    metadata: [
                        "alert.component": "\(transition.alert.component)",
                        "alert.type": "\(transition.alert.alertType.apiName)",
                        "alert.severity": "\(transition.alert.severity)",
                        "alert.message": "\(transition.alert.message)",
                    ]
                )
            }
            for sample in composer.componentsWorthLogging(in: batch) {
                logger.info(
                    "component sampled",
                    metadata: [
                        "component": "\(sample.name)", "client_id": "\(sample.clientID)",
                        "status": "\(sample.status.apiName)",
                        "cpu_usage": "\(SampleFormatting.percent(sample.cpuUsageCentipercent))",
                        "memory_usage_mib": "\(SampleFormatting.mebibytes(kibibytes: sample.memoryUsageKib))",
                        "memory_usage_percent": "\(SampleFormatting.percent(sample.memoryUsageCentipercent))",
                        "disk_usage_mib": "\(SampleFormatting.mebibytes(kibibytes: sample.diskUsageKib))",
                        "network_in_kib_s": "\(SampleFormatting.kibibytes(bytes: sample.networkInBytesPerSecond))",
                        "network_out_kib_s": "\(SampleFormatting.kibibytes(bytes: sample.networkOutBytesPerSecond))",
                        "processes": "\(sample.processCount)",
                    ]
                )
            }
            func appendSample(models: [ResourceWatcher_V1_ModelUsage]?) throws {
                var sample = batch
                if let models { sample.models = models }
                let payload: [UInt8] = try sample.serializedBytes()
                do {
                    let sequence = try spool.append(kind: .sample, payload: payload)
                    appended = true
                    logger.debug(
                        "tick appended",
                        metadata: ["spool.sequence": "\(sequence)", "sampler.components": "\(batch.components.count)"]
                    )
                } catch {
                    // Counted and logged (rate-limited) by the spool; the next tick tries again.
                }
            }
            // The usage totals and the append as one step against usage posts, so a restart
            // (last batch's totals + later usage records) counts every event once.
            if let usageLedger {
                try usageLedger.snapshotting { models in try appendSample(models: models) }
            } else {
                try appendSample(models: nil)
            }
            Self.appendLogs(
                agentLogs.drain(),
                tailer: logTailer,
                containerLogs: containerLogs,
                agentID: agentID,
                at: batch.timestampUnixMs,
                to: spool
            )
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds = elapsed.inMilliseconds
        logger.trace("tick done", metadata: ["sampler.tick_ms": "\(milliseconds)"])
        tickStatistics?.record(
            durationSeconds: elapsed.inSeconds,
            atUnixMilliseconds: RFC3339.nowUnixMilliseconds(),
            logFilesRefused: logTailer?.refusedCount() ?? 0
        )
    }
}
