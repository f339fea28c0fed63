import Logging
public import ModelUsage
public import NIOPosix
public import Spool
import SwiftProtobuf
import Synchronization
public import WatcherModel
public import WatcherProto

/// Everything the status API and the exposition read: the spool's head, the sinks' counters,
/// model usage, tick statistics and the configuration. Requests never read the disk: the head is
/// in memory (`Spool.latest`), decoded once per new tick.
public final class StatusState: Sendable {
    public let config: Config
    public let spool: Spool
    public let sinks: [SinkMetrics]
    public let usage: UsageLedger
    /// Stores usage events durably before they count (shared with the proxies and the scraper).
    public let recorder: UsageRecorder
    /// The metering proxies' counters, one per proxied component.
    public let proxies: [ProxyMetrics]
    public let ticks: TickStatistics
    /// Outside input cut or refused, by component and reason (shared with sampler and proxies).
    public let limits: SourceLimits
    public let version: String
    public let agentID: String
    public let startedUnixMilliseconds: Int64
    /// The `:5220` API's and the `:5221` exposition's connections (`http` limits).
    public let apiConnections: ConnectionRegistry
    public let metricsConnections: ConnectionRegistry
    let authenticator: TokenAuthenticator
    /// Where a usage event's append (fsync) runs, off the event loop.
    let ioThreadPool: NIOThreadPool
    /// Tenants the API knows: the agent's own, every component's, every token's.
    let knownTenants: Set<String>
    private let head = Mutex<(sequence: UInt64, batch: ResourceWatcher_V1_Batch)?>(nil)
    /// Response bodies built from the head, per view and tenant, valid until the next tick.
    private let views = Mutex<(sequence: UInt64, bodies: [String: [UInt8]])>((0, [:]))

    public init(
        config: Config,
        spool: Spool,
        sinks: [SinkMetrics],
        usage: UsageLedger,
        ticks: TickStatistics,
        version: String,
        agentID: String,
        ioThreadPool: NIOThreadPool,
        recorder: UsageRecorder? = nil,
        proxies: [ProxyMetrics] = [],
        limits: SourceLimits = SourceLimits()
    ) {
        self.limits = limits
        self.recorder =
            recorder
            ?? UsageRecorder(
                ledger: usage,
                spool: spool,
                agentID: agentID,
                ioThreadPool: ioThreadPool,
                logger: Logger(label: "resource-watcher.usage")
            )
        self.proxies = proxies
        self.config = config
        self.spool = spool
        self.sinks = sinks
        self.usage = usage
        self.ticks = ticks
        self.version = version
        self.agentID = agentID
        self.ioThreadPool = ioThreadPool
        self.startedUnixMilliseconds = RFC3339.nowUnixMilliseconds()
        self.authenticator = TokenAuthenticator(auth: config.auth)
        self.apiConnections = ConnectionRegistry(server: "api", limits: config.http)
        self.metricsConnections = ConnectionRegistry(server: "metrics", limits: config.http)
        self.knownTenants = Set(
            [config.clientID] + config.components.map(\.clientID) + config.auth.tokens.map(\.clientID)
        )
    }

    /// The newest sample batch, decoded (cached until the next tick lands).
    public func latestSample() -> ResourceWatcher_V1_Batch? {
        guard let record = spool.latest(.sample) else { return nil }
        if let cached = head.withLock({ $0 }), cached.sequence == record.sequence { return cached.batch }
        guard let batch = try? ResourceWatcher_V1_Batch(serializedBytes: record.payload) else { return nil }
        head.withLock { $0 = (record.sequence, batch) }
        return batch
    }

    /// The body of a view of the head (`view` names it, with the tenant), built once per tick:
    /// between ticks every request for it is a dictionary lookup.
    func headView(_ view: String, build: (ResourceWatcher_V1_Batch?) -> [UInt8]) -> [UInt8] {
        let sequence = spool.latest(.sample)?.sequence ?? 0
        if let cached = views.withLock({ $0.sequence == sequence ? $0.bodies[view] : nil }) { return cached }
        let body = build(latestSample())
        views.withLock { views in
            if views.sequence != sequence { views = (sequence, [:]) }
            views.bodies[view] = body
        }
        return body
    }

    /// Each sink's counters with its spool lag.
    public func sinkSnapshots(nowUnixMilliseconds now: Int64) -> [SinkSnapshot] {
        let statistics = spool.statistics()
        return sinks.map { sink in
            sink.snapshot(lagRecords: statistics.consumers[sink.sink]?.lagRecords ?? 0, nowUnixMilliseconds: now)
        }
    }
}
