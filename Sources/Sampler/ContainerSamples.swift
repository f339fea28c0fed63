public import WatcherProto

/// A tick's container components: their samples, and the host PID of each running one's main
/// process (its network namespace is read from /proc, where every interface counts).
public struct ContainerSamples: Sendable {
    public var samples: [String: ResourceWatcher_V1_ComponentSample]
    public var mainProcessIDs: [String: Int32]

    public init(samples: [String: ResourceWatcher_V1_ComponentSample] = [:], mainProcessIDs: [String: Int32] = [:]) {
        self.samples = samples
        self.mainProcessIDs = mainProcessIDs
    }

    /// The sample of the component named `name`.
    public subscript(name: String) -> ResourceWatcher_V1_ComponentSample? { samples[name] }
}
