import Synchronization

/// One sink's counters, updated by its loop and read by `/metrics`, `/health` and `status`.
public final class SinkMetrics: Sendable {
    /// The sink's name, which is also its spool consumer name.
    public let sink: String
    /// What the sink's items are ("samples", "lines", "posts").
    public let itemName: String
    private let state = Mutex(State())

    private struct State {
        var sentRequests: UInt64 = 0
        var sentItems: UInt64 = 0
        var failedAttempts: UInt64 = 0
        var retries: UInt64 = 0
        var droppedRequests: [String: UInt64] = [:]
        var droppedItems: [String: UInt64] = [:]
        var lastSuccessUnixMilliseconds: Int64?
        var lastError: String?
        var consecutiveFailures: UInt64 = 0
        var oldestPendingUnixMilliseconds: Int64?
        var lostRecords: UInt64 = 0
    }

    /// The drop reasons every sink can meet, shown on `/metrics` from zero (with `http_<status>`
    /// for other refusals, which appear when they first happen). RetryPolicy and SinkService
    /// give these names.
    public static let knownDropReasons = ["duplicate", "out_of_order", "too_large", "too_old"]

    public init(sink: String, itemName: String) {
        self.sink = sink
        self.itemName = itemName
    }

    public func delivered(items: Int, atUnixMilliseconds now: Int64) {
        state.withLock { state in
            state.sentRequests += 1
            state.sentItems += UInt64(items)
            state.lastSuccessUnixMilliseconds = now
            state.consecutiveFailures = 0
        }
    }

    /// A failed attempt that will be retried; returns how many failures in a row there have been.
    public func failed(error: String) -> UInt64 {
        state.withLock { state in
            state.failedAttempts += 1
            state.retries += 1
            state.consecutiveFailures += 1
            state.lastError = error
            return state.consecutiveFailures
        }
    }

    public func dropped(items: Int, reason: String, error: String) {
        state.withLock { state in
            state.droppedRequests[reason, default: 0] += 1
            state.droppedItems[reason, default: 0] += UInt64(items)
            state.failedAttempts += 1
            state.lastError = error
            // The destination answered: it is up, just not accepting this request.
            state.consecutiveFailures = 0
        }
    }

    public func pending(since unixMilliseconds: Int64?) {
        state.withLock { $0.oldestPendingUnixMilliseconds = unixMilliseconds }
    }

    public func lost(records: UInt64) {
        guard records > 0 else { return }
        state.withLock { $0.lostRecords += records }
    }

    /// A consistent copy of the counters; `lagRecords` comes from the spool, which owns cursors.
    public func snapshot(lagRecords: UInt64, nowUnixMilliseconds now: Int64) -> SinkSnapshot {
        state.withLock { state in
            let lagSeconds =
                lagRecords == 0
                ? 0 : state.oldestPendingUnixMilliseconds.map { max(0, Double(now - $0) / 1000) } ?? 0
            return SinkSnapshot(
                name: sink,
                itemName: itemName,
                sentRequests: state.sentRequests,
                sentItems: state.sentItems,
                failedAttempts: state.failedAttempts,
                retries: state.retries,
                droppedRequests: state.droppedRequests,
                droppedItems: state.droppedItems,
                lastSuccessUnixMilliseconds: state.lastSuccessUnixMilliseconds,
                lastError: state.lastError,
                consecutiveFailures: state.consecutiveFailures,
                lagRecords: lagRecords,
                lagSeconds: lagSeconds,
                lostRecords: state.lostRecords
            )
        }
    }
}

/// One sink's figures at one moment.
public struct SinkSnapshot: Sendable, Equatable {
    public var name: String
    public var itemName: String
    /// Requests the destination acknowledged (2xx), and the items in them.
    public var sentRequests: UInt64
    public var sentItems: UInt64
    /// Attempts that did not deliver (network errors, timeouts, 5xx, 429, dropped 4xx).
    public var failedAttempts: UInt64
    /// Attempts that were followed by a retry.
    public var retries: UInt64
    /// Requests (and their items) given up on, by reason ("http_400", "too_old", ...).
    public var droppedRequests: [String: UInt64]
    public var droppedItems: [String: UInt64]
    /// When the destination last acknowledged a request (Unix ms); nil before the first.
    public var lastSuccessUnixMilliseconds: Int64?
    /// The last failure, for people (`status`, `/health`).
    public var lastError: String?
    /// Failed attempts since the last success; above zero the sink is failing.
    public var consecutiveFailures: UInt64
    /// Records appended but not yet acknowledged by this sink.
    public var lagRecords: UInt64
    /// Age of the oldest record not yet delivered; 0 when caught up.
    public var lagSeconds: Double
    /// Records this sink never saw because they were deleted (caps) or damaged.
    public var lostRecords: UInt64

    /// Whether the destination is failing now (the last attempt got no acceptable answer).
    public var isFailing: Bool { consecutiveFailures > 0 }
}
