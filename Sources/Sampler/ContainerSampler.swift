import HTTPTransport
import Synchronization
import WatcherModel
import WatcherProto

/// Samples components found by `container_name` through the Docker Engine API, with the
/// `docker stats` formulas. A tick waits for the engine at most `timeout`: a component whose
/// figures did not arrive by then is reported `unknown` for that tick, never holding it up.
final class ContainerSampler: Sendable {
    private struct Component {
        let name: String
        let clientID: String
        let containerName: String
    }

    private let client: DockerClient
    private let components: [Component]
    private let calculator = Mutex(DockerStatsCalculator())
    /// CPU limit per container id, from inspect (the limit does not change while it runs).
    private let cpuLimits = Mutex<[String: Double?]>([:])
    /// Disk bytes per component (writable layer + volumes), from the slower size refresh.
    private let diskBytes = Mutex<[String: UInt64]>([:])

    /// Nil when no component has a `container_name`.
    init?(components: [ComponentConfig], client: DockerClient) {
        let containers = components.compactMap { component in
            component.containerName.map { Component(name: component.name, clientID: component.clientID, containerName: $0) }
        }
        guard !containers.isEmpty else { return nil }
        self.components = containers
        self.client = client
    }

    /// One sample per container component, keyed by component name.
    func sample(timeout: Duration) async -> [String: ResourceWatcher_V1_ComponentSample] {
        let results = Results()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.collect(into: results) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        let collected = results.samples.withLock { $0 }
        var samples: [String: ResourceWatcher_V1_ComponentSample] = [:]
        for component in components {
            samples[component.name] = collected[component.name] ?? {
                var late = Self.emptySample(component)
                late.status = .unknown  // the engine did not answer in time
                return late
            }()
        }
        return samples
    }

    /// Samples as they arrive, shared by the collecting task and the caller that stops waiting.
    private final class Results: Sendable {
        let samples = Mutex<[String: ResourceWatcher_V1_ComponentSample]>([:])
    }

    private func collect(into results: Results) async {
        let containers: [DockerContainer]
        do { containers = try await client.containers() } catch { return }
        let byName = Dictionary(containers.map { ($0.name, $0) }) { first, _ in first }
        calculator.withLock { $0.retainOnly(Set(containers.map(\.id))) }
        // Absent and stopped containers first: they need no further request, so a stats call
        // that hangs cannot hide them.
        var running: [(Component, DockerContainer)] = []
        for component in components {
            if let container = byName[component.containerName], container.isRunning {
                running.append((component, container))
            } else {
                var sample = Self.emptySample(component)
                sample.status = .down
                results.samples.withLock { $0[component.name] = sample }
            }
        }
        for (component, container) in running {
            if Task.isCancelled { return }
            guard let stats = try? await client.stats(id: container.id) else { continue }
            let limit = await cpuLimit(of: container)
            let figures = calculator.withLock { $0.figures(for: container, stats: stats, at: .now) }
            var sample = Self.emptySample(component)
            sample.status = .healthy
            if let percent = figures.cpuPercentOfCapacity(limitCores: limit) {
                sample.cpuUsageCentipercent = UInt32((percent * 100).rounded())
            }
            sample.memoryUsageKib = figures.memoryUsageBytes / 1024
            if let percent = figures.memoryPercent { sample.memoryUsageCentipercent = UInt32((min(100, percent) * 100).rounded()) }
            sample.networkInBytesPerSecond = UInt64((figures.networkRxBytesPerSecond ?? 0).rounded())
            sample.networkOutBytesPerSecond = UInt64((figures.networkTxBytesPerSecond ?? 0).rounded())
            sample.processCount = UInt32(figures.processCount ?? 0)
            sample.diskUsageKib = (diskBytes.withLock { $0[component.name] } ?? 0) / 1024
            results.samples.withLock { $0[component.name] = sample }
        }
    }

    /// Refreshes each running container's disk usage (DESIGN §3: writable layer + volumes).
    /// Asking the engine for sizes makes it walk the layer, so this runs on the slow disk loop,
    /// never in the tick; `allocatedBytes` walks volume directories on the host (blocking, so
    /// the caller runs it on an I/O thread). Bind mounts are host directories, not the container's.
    func refreshDiskUsage(allocatedBytes: @Sendable ([String]) async -> UInt64) async {
        guard let containers = try? await client.containers() else { return }
        let byName = Dictionary(containers.map { ($0.name, $0) }) { first, _ in first }
        var sizes: [String: UInt64] = [:]
        for component in components {
            guard let container = byName[component.containerName], container.isRunning,
                let details = try? await client.inspect(id: container.id, includeSize: true)
            else { continue }
            let volumes = details.mounts.filter { $0.type == "volume" }.map(\.source)
            sizes[component.name] = UInt64(max(0, details.sizeRwBytes ?? 0)) + (volumes.isEmpty ? 0 : await allocatedBytes(volumes))
        }
        diskBytes.withLock { $0 = sizes }
    }

    private func cpuLimit(of container: DockerContainer) async -> Double? {
        if let known = cpuLimits.withLock({ $0[container.id] }) { return known }
        guard let details = try? await client.inspect(id: container.id, includeSize: false) else { return nil }
        cpuLimits.withLock { $0[container.id] = details.cpuLimitCores }
        return details.cpuLimitCores
    }

    private static func emptySample(_ component: Component) -> ResourceWatcher_V1_ComponentSample {
        var sample = ResourceWatcher_V1_ComponentSample()
        sample.name = component.name
        sample.clientID = component.clientID
        return sample
    }
}
