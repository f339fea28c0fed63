import Synchronization
public import WatcherProto

/// Model usage per tenant, provider and model: running totals of the events posted to
/// `POST /v1/usage` (and recorded by the metering proxy). Every sample batch carries a copy
/// (`Batch.models`), so the API head, the sinks and a restarted agent all see the same totals.
public final class UsageLedger: Sendable {
    private struct Key: Hashable {
        let clientID: String
        let provider: String
        let model: String
    }

    private struct State {
        var order: [Key] = []
        var totals: [Key: ResourceWatcher_V1_ModelUsage] = [:]
        var events: UInt64 = 0
        /// Each tenant's models: those with totals, and those admitted (`admitModels`) whose
        /// events are still on their way to the spool. The per-tenant cap counts these.
        var modelsByTenant: [String: Set<Key>] = [:]
    }

    private let state = Mutex(State())
    /// Orders "append a usage record, then record it" against "snapshot the totals, then append
    /// a sample batch", so a restart (last batch's totals + later usage records) counts every
    /// event exactly once.
    private let appendOrder = Mutex<Void>(())

    public init() {}

    /// Adds `events` (each a `ModelUsage` holding one event's figures) to the totals.
    public func record(_ events: [ResourceWatcher_V1_ModelUsage]) {
        state.withLock { state in
            for event in events { Self.add(event, to: &state) }
            state.events += UInt64(events.count)
        }
    }

    /// Runs `append` (the usage record's durable append) and then records `events`, as one step
    /// with respect to `snapshotting`.
    public func recordDurably<Failure: Error>(
        _ events: [ResourceWatcher_V1_ModelUsage],
        append: () throws(Failure) -> Void
    ) throws(Failure) {
        try appendOrder.withLock { (_) throws(Failure) in
            try append()
            record(events)
        }
    }

    /// Runs `body` (which appends a sample batch carrying the totals) with the totals, as one
    /// step with respect to `recordDurably`.
    public func snapshotting<Result, Failure: Error>(
        _ body: ([ResourceWatcher_V1_ModelUsage]) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try appendOrder.withLock { (_) throws(Failure) in try body(snapshot()) }
    }

    /// Starts from `totals` (the last sample batch's models), as after a restart.
    public func restore(_ totals: [ResourceWatcher_V1_ModelUsage]) {
        state.withLock { state in
            state = State()
            for total in totals { Self.add(total, to: &state) }
        }
    }

    /// The totals, in first-seen order.
    public func snapshot() -> [ResourceWatcher_V1_ModelUsage] {
        state.withLock { state in state.order.map { state.totals[$0]! } }
    }

    /// The average latency in milliseconds over the requests that reported one; 0 when none did.
    public static func averageLatencyMilliseconds(_ model: ResourceWatcher_V1_ModelUsage) -> Double {
        model.latencyCount == 0 ? 0 : Double(model.latencyMicrosecondsSum) / Double(model.latencyCount) / 1000
    }

    /// How many distinct (provider, model) pairs `clientID` has, or has admitted.
    public func modelCount(of clientID: String) -> Int {
        state.withLock { $0.modelsByTenant[clientID]?.count ?? 0 }
    }

    /// Admits the models of `events` under a cap of `limit` distinct (provider, model) pairs per
    /// tenant, checking and reserving in one step so concurrent callers can never pass the cap
    /// together. With `overflowModel`, an event whose model does not fit is renamed to it (it
    /// always fits); without, nothing is admitted when any tenant would exceed the cap, and the
    /// tenant and the count it would reach are returned in `refused`.
    public func admitModels(
        _ events: [ResourceWatcher_V1_ModelUsage],
        limit: Int,
        overflowModel: String? = nil
    ) -> (events: [ResourceWatcher_V1_ModelUsage], refused: (clientID: String, count: Int)?) {
        state.withLock { state in
            var admitted = events
            var added: [String: Set<Key>] = [:]
            for index in admitted.indices {
                let event = admitted[index]
                var key = Key(clientID: event.clientID, provider: event.provider, model: event.name)
                let known = state.modelsByTenant[key.clientID, default: []]
                let pending = added[key.clientID, default: []]
                if known.contains(key) || pending.contains(key) { continue }
                if known.count + pending.count >= limit {
                    guard let overflowModel else {
                        let wouldHave = known.union(pending).union(
                            events.lazy.filter { $0.clientID == key.clientID }
                                .map { Key(clientID: $0.clientID, provider: $0.provider, model: $0.name) }
                        )
                        return (events, (key.clientID, wouldHave.count))
                    }
                    admitted[index].name = overflowModel
                    key = Key(clientID: key.clientID, provider: key.provider, model: overflowModel)
                    if known.contains(key) || pending.contains(key) { continue }
                }
                added[key.clientID, default: []].insert(key)
            }
            for (clientID, keys) in added { state.modelsByTenant[clientID, default: []].formUnion(keys) }
            return (admitted, nil)
        }
    }

    /// Gives back the admissions of `events` whose models never got totals (their append failed).
    public func releaseModels(_ events: [ResourceWatcher_V1_ModelUsage]) {
        state.withLock { state in
            for event in events {
                let key = Key(clientID: event.clientID, provider: event.provider, model: event.name)
                if state.totals[key] == nil { state.modelsByTenant[key.clientID]?.remove(key) }
            }
        }
    }

    /// Events recorded since the agent started.
    public var eventCount: UInt64 { state.withLock { $0.events } }

    private static func add(_ event: ResourceWatcher_V1_ModelUsage, to state: inout State) {
        let key = Key(clientID: event.clientID, provider: event.provider, model: event.name)
        guard var total = state.totals[key] else {
            state.order.append(key)
            state.totals[key] = event
            state.modelsByTenant[key.clientID, default: []].insert(key)
            return
        }
        // Saturating: totals replayed from an old spool or posted by a hostile client must not trap.
        total.requestsCount = saturatingSum(total.requestsCount, event.requestsCount)
        total.tokensInput = saturatingSum(total.tokensInput, event.tokensInput)
        total.tokensOutput = saturatingSum(total.tokensOutput, event.tokensOutput)
        total.latencyMicrosecondsSum = saturatingSum(total.latencyMicrosecondsSum, event.latencyMicrosecondsSum)
        total.latencyCount = saturatingSum(total.latencyCount, event.latencyCount)
        total.lastUsedUnixMs = max(total.lastUsedUnixMs, event.lastUsedUnixMs)
        total.requestsTokensUnknown = saturatingSum(total.requestsTokensUnknown, event.requestsTokensUnknown)
        if !event.latencyBucketCounts.isEmpty {
            if total.latencyBucketCounts.count < event.latencyBucketCounts.count {
                total.latencyBucketCounts += Array(
                    repeating: 0,
                    count: event.latencyBucketCounts.count - total.latencyBucketCounts.count
                )
            }
            for (index, count) in event.latencyBucketCounts.enumerated() {
                total.latencyBucketCounts[index] = saturatingSum(total.latencyBucketCounts[index], count)
            }
        }
        total.histogramSumMicroseconds = saturatingSum(total.histogramSumMicroseconds, event.histogramSumMicroseconds)
        total.firstByteMicrosecondsSum = saturatingSum(total.firstByteMicrosecondsSum, event.firstByteMicrosecondsSum)
        total.firstByteCount = saturatingSum(total.firstByteCount, event.firstByteCount)
        total.inferenceMicrosecondsSum = saturatingSum(total.inferenceMicrosecondsSum, event.inferenceMicrosecondsSum)
        total.inferenceCount = saturatingSum(total.inferenceCount, event.inferenceCount)
        state.totals[key] = total
    }
}

private func saturatingSum(_ left: UInt64, _ right: UInt64) -> UInt64 {
    let (sum, overflow) = left.addingReportingOverflow(right)
    return overflow ? .max : sum
}
