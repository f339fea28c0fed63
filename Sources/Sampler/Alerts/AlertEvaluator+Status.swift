public import WatcherProto

extension AlertEvaluator {
    /// Marks every `healthy` sample that has an active alert `degraded` (DESIGN §3: degraded
    /// means an alert is active). `down` and `unknown` say more than `degraded`, so they stay.
    public static func applyingStatus(
        to samples: inout [ResourceWatcher_V1_ComponentSample],
        active: [ResourceWatcher_V1_Alert]
    ) {
        // Component names are unique across tenants (config validation), so the name suffices.
        let alerting = Set(active.map(\.component))
        guard !alerting.isEmpty else { return }
        for index in samples.indices where samples[index].status == .healthy && alerting.contains(samples[index].name) {
            samples[index].status = .degraded
        }
    }
}
