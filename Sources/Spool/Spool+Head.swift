import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The head (latest record of each kind) and statistics, published apart from appends.
extension Spool {
    // MARK: - Head and statistics

    /// The newest record of `kind`, kept in memory (restored from the tail on open).
    /// Never waits for an append in progress (its fsync): it reads the published head.
    public func latest(_ kind: RecordKind) -> SpoolRecord? { published.withLock { $0.head[kind] } }

    /// The sequence number of the newest record; like `latest`, it never waits for an append.
    public var lastSequence: UInt64 { published.withLock { $0.lastSequence } }

    /// Sizes, sequences, drops and each consumer's cursor and lag, as published after the last
    /// append, acknowledgement or deletion; like `latest`, it never waits for an append (fsync).
    public func statistics() -> SpoolStatistics { published.withLock { $0.statistics } }

    /// Publishes `state`'s statistics; called under the state lock after every change to them.
    func publishStatistics(_ state: State) {
        let statistics = state.statistics
        published.withLock { $0.statistics = statistics }
    }
}
