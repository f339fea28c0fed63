import ArgumentParser
import Logging
import MeteringProxy
import ModelUsage
import NIOPosix
import Sampler
import ServiceLifecycle
import Shipper
import Spool
import StatusAPI
import UnixSignals
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent (the default command). SIGTERM or SIGINT stops it cleanly."
    )

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        // Everything the agent creates (spool, cursors, positions, its log) is its user's alone.
        umask(0o077)
        let descriptorLimit = Self.raiseDescriptorLimit()
        let agentLogs = LogBuffer()
        let logger = try AgentLogging.bootstrap(
            level: config.logLevel,
            file: config.logFile,
            clientID: config.clientID,
            spoolBuffer: agentLogs
        )

        logger.debug("open file limit", metadata: ["rlimit.nofile": "\(descriptorLimit)"])

        // Blocking I/O (spool files, fsync, /proc) runs on these threads, never on the cooperative pool.
        let ioThreadPool = NIOThreadPool(numberOfThreads: 2)
        ioThreadPool.start()

        let spoolOptions = SpoolOptions(
            maxBytes: config.spool.maxBytes,
            maxAge: config.spool.maxAge,
            segmentSizeBytes: config.spool.segmentBytes,
            fsync: FsyncPolicy(rawValue: config.spool.fsync.rawValue) ?? .batch
        )
        let consumers = ShipperSinks.consumerNames(in: config)
        let spool: Spool
        do {
            spool = try await ioThreadPool.runIfActive {
                try Spool(
                    directory: config.spool.directory,
                    options: spoolOptions,
                    consumers: consumers,
                    logger: logger
                )
            }
        } catch {
            try? await ioThreadPool.shutdownGracefully()
            logger.critical(
                "cannot open the spool",
                metadata: ["spool.dir": "\(config.spool.directory)", "error": "\(error)"]
            )
            throw ExitCode(1)
        }

        let hostName = Self.hostName()
        let agentID = hostName + "/" + config.clientID
        let usage = UsageLedger()
        let sourceLimits = SourceLimits(logger: logger)
        try await ioThreadPool.runIfActive { try UsageRecorder.restore(usage, from: spool) }
        let recorder = UsageRecorder(
            ledger: usage,
            spool: spool,
            agentID: agentID,
            ioThreadPool: ioThreadPool,
            logger: logger,
            limits: sourceLimits
        )
        let proxyMetrics = MeteringProxy.metrics(for: config)
        let ticks = TickStatistics()
        let sampler = SamplerService(
            config: config,
            agentID: agentID,
            spool: spool,
            ioThreadPool: ioThreadPool,
            agentLogs: agentLogs,
            logger: logger,
            usageLedger: usage,
            tickStatistics: ticks,
            usageRecorder: recorder,
            sourceLimits: sourceLimits
        )
        let sinks = ShipperSinks(
            config: config,
            spool: spool,
            ioThreadPool: ioThreadPool,
            instance: hostName,
            userAgent: "resource-watcher/\(AgentVersion.current)",
            logger: logger
        )
        let status = StatusState(
            config: config,
            spool: spool,
            sinks: sinks.metrics,
            usage: usage,
            ticks: ticks,
            version: AgentVersion.current,
            agentID: agentID,
            ioThreadPool: ioThreadPool,
            recorder: recorder,
            proxies: proxyMetrics,
            limits: sourceLimits
        )
        if config.auth.isEmpty {
            logger.warning(
                "no API tokens configured: the status API is open to anyone on this host (loopback only)",
                metadata: ["listen_address": "\(config.listenAddress)"]
            )
        }
        var httpLogger = logger
        httpLogger.logLevel = max(logger.logLevel, .notice)  // not one line per request
        let servers =
            StatusServer.services(state: status, logger: httpLogger)
            + MeteringProxy.services(
                config: config,
                recorder: recorder,
                metrics: proxyMetrics,
                logger: httpLogger,
                sourceLimits: sourceLimits
            )
        // Graceful shutdown runs in reverse order: the HTTP servers stop first, then the
        // sampler, then the sinks finish their in-flight requests.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: (sinks.services + [sampler] + servers).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        logger.info(
            "resource-watcher started",
            metadata: [
                "version": "\(AgentVersion.current)", "agent.id": "\(agentID)",
                "spool.dir": "\(config.spool.directory)", "poll_interval_seconds": "\(config.pollIntervalSeconds)",
                "components": "\(config.components.count)",
                "sinks": "\(consumers.isEmpty ? "none" : consumers.joined(separator: ","))",
            ]
        )
        var failed = false
        do {
            try await group.run()
        } catch {
            // A service failing stops the group; exit non-zero so a supervisor restarts the agent.
            logger.critical("service failed; stopping", metadata: ["error": "\(error)"])
            failed = true
        }
        logger.info(
            "resource-watcher stopping",
            metadata: ["spool.last_sequence": "\(spool.statistics().lastSequence)"]
        )
        // Usage the proxies recorded goes into the spool before it closes.
        await recorder.drain()
        // Log lines since the last tick go into the spool before it closes.
        try await sampler.flushAgentLogs()
        try await ioThreadPool.runIfActive { spool.close() }
        try await ioThreadPool.shutdownGracefully()
        if failed { throw ExitCode(1) }
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown-host" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Raises the soft limit on open files to the hard limit (each HTTP connection, tailed log
    /// and spool segment holds one); returns the soft limit now in force.
    static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }
}
