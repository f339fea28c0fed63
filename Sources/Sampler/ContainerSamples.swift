public import WatcherProto

/// A tick's container components: their samples, and the host PID of each running one's main
/// process (its network namespace is read from /proc, where every interface counts).
public struct ContainerSamples: Sendable {
    public var samples: [String: ResourceWatcher_V1_ComponentSample]
    public var mainProcessIDs: [String: Int32]
    /// The main process of every running container watched, sampled in time or not, by
    /// component: process discovery leaves their trees alone (the container is the component),
    /// and the GPU memory of a container component is what its tree holds.
    public var containerProcessIDs: [String: Int32]
    /// The discovered container components, in the order they are reported.
    public var discovered: [String]
    /// Discovered container components dropped this tick (gone for the grace period).
    public var dropped: [String]

    public init(
        samples: [String: ResourceWatcher_V1_ComponentSample] = [:],
        mainProcessIDs: [String: Int32] = [:],
        containerProcessIDs: [String: Int32] = [:],
        discovered: [String] = [],
        dropped: [String] = []
    ) {
        self.samples = samples
        self.mainProcessIDs = mainProcessIDs
        self.containerProcessIDs = containerProcessIDs
        self.discovered = discovered
        self.dropped = dropped
    }

    /// The sample of the component named `name`.
    public subscript(name: String) -> ResourceWatcher_V1_ComponentSample? { samples[name] }
}
