public import Logging
public import NIOPosix
public import Spool
import Synchronization
public import WatcherModel
public import WatcherProto

/// Where every source of model usage (the metering proxy, metrics scraping, `POST /v1/usage`)
/// hands its events: each is appended to the spool as a usage record first, and counted in the
/// ledger only once that append returned, so a `kill -9` never loses a counted request.
///
/// Appends are group-committed: events submitted while one append runs go together into the
/// next, so thousands of proxied requests a second cost a few appends, not one fsync each.
/// The append runs on the I/O thread pool, never on the cooperative pool.
public final class UsageRecorder: Sendable {
    /// Why events could not be stored.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private struct Pending {
        var events: [ResourceWatcher_V1_ModelUsage]
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private struct State {
        var queue: [Pending] = []
        var flushing = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var droppedEvents: UInt64 = 0
        var appends: UInt64 = 0
    }

    public let ledger: UsageLedger
    private let spool: Spool
    private let agentID: String
    private let ioThreadPool: NIOThreadPool
    private let logger: Logger
    private let state = Mutex(State())
    /// Where cut model names and models over a tenant's cap are counted.
    public let limits: SourceLimits

    public init(
        ledger: UsageLedger,
        spool: Spool,
        agentID: String,
        ioThreadPool: NIOThreadPool,
        logger: Logger,
        limits: SourceLimits = SourceLimits()
    ) {
        self.limits = limits
        self.ledger = ledger
        self.spool = spool
        self.agentID = agentID
        self.ioThreadPool = ioThreadPool
        self.logger = logger
    }

    /// Distinct models a tenant may have from the proxy and scraping; events for more are
    /// recorded under `overflowModel`, so no source can grow the series without bound.
    public static let maximumModelsPerTenant = 1000
    public static let overflowModel = "_other"

    /// `events` of `component` with model names bounded (`BoundedName`: 256 bytes of printable
    /// UTF-8) and the models past a tenant's limit renamed `overflowModel`; both counted in
    /// `limits` (`model_name_cut`, `models_over_limit`).
    public func bounded(
        _ events: [ResourceWatcher_V1_ModelUsage],
        component: String
    ) -> [ResourceWatcher_V1_ModelUsage] {
        var named = events
        limits.boundNames(&named, at: \.name, component: component)
        let admitted = ledger.admitModels(named, limit: Self.maximumModelsPerTenant, overflowModel: Self.overflowModel)
            .events
        let overflowed = zip(named, admitted).reduce(into: UInt64(0)) { count, pair in
            if pair.0.name != pair.1.name { count += 1 }
        }
        limits.note(
            component: component,
            reason: "models_over_limit",
            count: overflowed,
            detail:
                "a tenant keeps at most \(Self.maximumModelsPerTenant) models; more are counted as \(Self.overflowModel)"
        )
        return admitted
    }

    /// Queues `events` and returns at once; they count once their append returned. Events that
    /// cannot be stored (spool unavailable) are logged and counted in `droppedEvents`.
    public func submit(_ events: [ResourceWatcher_V1_ModelUsage]) {
        guard !events.isEmpty else { return }
        enqueue(Pending(events: events, waiter: nil))
    }

    /// Stores and counts `events`, returning once they are durable and counted.
    public func record(_ events: [ResourceWatcher_V1_ModelUsage]) async throws {
        guard !events.isEmpty else { return }
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            enqueue(Pending(events: events, waiter: waiter))
        }
    }

    /// Returns once every event submitted before the call was stored (or dropped).
    public func drain() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.queue.isEmpty && !state.flushing { return true }
                state.idleWaiters.append(waiter)
                return false
            }
            if idle { waiter.resume() }
        }
    }

    /// Restores `ledger` after a restart: the last sample batch's totals plus every usage record
    /// appended after it. Blocking (reads the spool's tail): run it on the I/O pool.
    public static func restore(_ ledger: UsageLedger, from spool: Spool) throws {
        let last = spool.latest(.sample)
        let totals = last.flatMap { try? ResourceWatcher_V1_Batch(serializedBytes: $0.payload) }?.models ?? []
        ledger.restore(totals)
        let reader = spool.reader(after: last?.sequence ?? 0)
        var previous: UInt64?
        while true {
            let result = try reader.read(maxRecords: 1024, kinds: [.usage])
            for record in result.records {
                if let batch = try? ResourceWatcher_V1_Batch(serializedBytes: record.payload) {
                    ledger.record(batch.models)
                }
            }
            if result.throughSequence == previous || result.throughSequence >= spool.lastSequence { break }
            previous = result.throughSequence
        }
    }

    /// Events that could not be stored since the agent started.
    public var droppedEvents: UInt64 { state.withLock { $0.droppedEvents } }

    /// Usage records appended since the agent started.
    public var appendCount: UInt64 { state.withLock { $0.appends } }

    private func enqueue(_ pending: Pending) {
        let startFlusher = state.withLock { state -> Bool in
            state.queue.append(pending)
            if state.flushing { return false }
            state.flushing = true
            return true
        }
        if startFlusher {
            Task { await self.flushUntilEmpty() }
        }
    }

    private func flushUntilEmpty() async {
        while true {
            let taken = state.withLock { state -> [Pending] in
                let taken = state.queue
                state.queue = []
                if taken.isEmpty { state.flushing = false }
                return taken
            }
            if taken.isEmpty {
                let waiters = state.withLock { state in
                    defer { state.idleWaiters = [] }
                    return state.flushing ? [] : state.idleWaiters
                }
                for waiter in waiters { waiter.resume() }
                return
            }
            let events = taken.flatMap(\.events)
            var failure: (any Error)?
            do {
                try await append(events)
            } catch {
                failure = error
                logger.error(
                    "model usage could not be stored; these events are not counted",
                    metadata: ["events": "\(events.count)", "error": "\(error)"]
                )
            }
            state.withLock { state in
                if failure == nil {
                    state.appends += 1
                } else {
                    state.droppedEvents += UInt64(taken.filter { $0.waiter == nil }.reduce(0) { $0 + $1.events.count })
                }
            }
            for pending in taken {
                if let failure { pending.waiter?.resume(throwing: failure) } else { pending.waiter?.resume() }
            }
        }
    }

    private func append(_ events: [ResourceWatcher_V1_ModelUsage]) async throws {
        var batch = ResourceWatcher_V1_Batch()
        batch.schemaVersion = 1
        batch.agentID = agentID
        batch.timestampUnixMs = RFC3339.nowUnixMilliseconds()
        batch.models = events
        let payload: [UInt8] = try batch.serializedBytes()
        let spool = spool
        let ledger = ledger
        try await ioThreadPool.runIfActive {
            try ledger.recordDurably(events) { () throws(SpoolError) in
                _ = try spool.append(kind: .usage, payload: payload)
            }
        }
    }
}
