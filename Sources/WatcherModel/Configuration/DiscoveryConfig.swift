/// Finding well-known AI services (Ollama, vLLM, Qdrant, ...) among the host's processes and
/// watching each as a component without configuration (`discovery`).
public struct DiscoveryConfig: Sendable, Equatable {
    /// Whether discovery runs (`enabled`): off unless the file asks (the default config file
    /// does), so a config that names its components keeps to them.
    public var enabled: Bool
    /// Seconds between two scans for services (`interval_seconds`). A discovered service whose
    /// processes are gone reads `down` until three intervals have passed, then is dropped.
    public var intervalSeconds: Double
    /// Discovered components watched at most (`max_components`), processes and containers
    /// together; services found beyond it are not watched, and are counted
    /// (`discovered_components_over_limit`) and logged once.
    public var maxComponents: Int

    /// Off, scanning every 30 seconds once turned on, at most 32 components.
    public init(enabled: Bool = false, intervalSeconds: Double = 30, maxComponents: Int = 32) {
        self.enabled = enabled
        self.intervalSeconds = intervalSeconds
        self.maxComponents = maxComponents
    }

    /// How long a discovered service that is gone stays listed (as `down`) before it is dropped.
    public var gracePeriodSeconds: Double { intervalSeconds * 3 }
}
