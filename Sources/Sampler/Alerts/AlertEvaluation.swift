public import WatcherProto

/// What one tick of the `AlertEvaluator` produced: the events to put in the batch and the
/// active set the batch carries (DESIGN §5: transitions are events, the active set is part of
/// every batch).
public struct AlertEvaluation: Sendable {
    /// Alerts that started firing, changed severity (state `firing` with the new severity) or
    /// resolved on this tick, ordered by component name, then alert type.
    public var transitions: [ResourceWatcher_V1_AlertTransition]
    /// Every alert firing after this tick, ordered by component name, then alert type.
    public var active: [ResourceWatcher_V1_Alert]

    /// An evaluation of the given events and active set.
    public init(transitions: [ResourceWatcher_V1_AlertTransition] = [], active: [ResourceWatcher_V1_Alert] = []) {
        self.transitions = transitions
        self.active = active
    }
}
