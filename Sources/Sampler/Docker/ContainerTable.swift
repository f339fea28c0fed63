/// What the agent knows of the engine's containers between engine calls: the list's entries,
/// kept current by the engine's events, and each running one's main process (from inspect).
///
/// A tick reads it without asking the engine. Its sources arrive out of order: a list asked for
/// before an event can be answered after it. Every event (and every inspect applied) counts a
/// change, and a list or inspect carries the change count of when it was asked; an entry an
/// event changed since is left as the event made it (`changedBy`), and a container an event said
/// was destroyed since is not brought back (`destroyed`).
struct ContainerTable: Sendable {
    /// One container as known now.
    struct Entry: Sendable, Equatable {
        var summary: DockerContainer
        /// The main process's host PID, from inspect; nil until inspected and when not running.
        var pid: Int32?
        /// The CPU limit in cores as inspect tells it (`--cpus`, `--cpu-quota`): the stats
        /// fallback's capacity; figures from the kernel take the cgroup's own.
        var cpuLimitCores: Double?
        /// The change count of the last event or inspect applied to the entry.
        var changedBy: UInt64 = 0
    }

    private(set) var entries: [String: Entry] = [:]
    /// Containers destroyed by an event, with its change count, until a later list no longer has them.
    private var destroyed: [String: UInt64] = [:]
    /// Events and inspects applied so far.
    private(set) var changes: UInt64 = 0
    /// Whether a container list was ever applied.
    private(set) var isListed = false

    /// Every known container, oldest first (discovery gives the plain name to the oldest).
    var containers: [DockerContainer] {
        entries.values.map(\.summary).sorted { ($0.createdUnixSeconds, $0.id) < ($1.createdUnixSeconds, $1.id) }
    }

    /// The container named `name` (its own name, as `container_name` gives it).
    func entry(named name: String) -> Entry? {
        entries.values.first { $0.summary.name == name }
    }

    /// Takes the engine's list, asked for when `changes` was `askedAt`. A container that was
    /// not running (or is not now) must be inspected again for its main process.
    mutating func apply(list: [DockerContainer], askedAt: UInt64) {
        var next: [String: Entry] = [:]
        for container in list {
            if let destroyedBy = destroyed[container.id], destroyedBy > askedAt { continue }
            guard var entry = entries[container.id] else {
                next[container.id] = Entry(summary: container)
                continue
            }
            if entry.changedBy <= askedAt {
                if !(entry.summary.isRunning && container.isRunning) { entry.pid = nil }
                entry.summary = container
            }
            next[container.id] = entry
        }
        // Started after the list was asked for: not in it, but there.
        for (id, entry) in entries where next[id] == nil && entry.changedBy > askedAt { next[id] = entry }
        entries = next
        destroyed = destroyed.filter { $0.value > askedAt }
        isListed = true
    }

    /// Takes what inspect said of a running container (and its list entry, when asked for too),
    /// asked for when `changes` was `askedAt`; an event since then wins.
    mutating func apply(details: DockerContainerDetails, summary: DockerContainer? = nil, askedAt: UInt64) {
        if let destroyedBy = destroyed[details.id], destroyedBy > askedAt { return }
        guard var entry = entries[details.id] ?? summary.map({ Entry(summary: $0) }) else { return }
        guard entry.changedBy <= askedAt else { return }
        if let summary { entry.summary = summary }
        if details.isRunning {
            // Inspect's state is newer than a list's; paused containers are running to inspect.
            if entry.summary.state != "paused" { entry.summary.state = "running" }
            entry.pid = details.pid
        } else {
            entry.pid = nil
            if entry.summary.isRunning { entry.summary.state = "exited" }
        }
        entry.cpuLimitCores = details.cpuLimitCores
        changes += 1
        entry.changedBy = changes
        entries[details.id] = entry
    }

    /// Takes one event. A start makes the container running with its main process unknown (the
    /// caller inspects it); an event for a container not known yet (but a start) is left to the
    /// next list.
    mutating func apply(_ event: DockerEvent) {
        changes += 1
        let id = event.containerID
        if event.action == .destroy {
            entries[id] = nil
            destroyed[id] = changes
            return
        }
        guard var entry = entries[id] else {
            guard event.action == .start else { return }
            var summary = DockerContainer(
                id: id,
                name: event.name ?? String(id.prefix(12)),
                names: event.name.map { [$0] } ?? [],
                image: event.image ?? "",
                state: "running",
                status: "",
                labels: [:]
            )
            summary.createdUnixSeconds = Int64.max  // unknown until listed: the newest
            entries[id] = Entry(summary: summary, changedBy: changes)
            return
        }
        switch event.action {
        case .start:
            entry.summary.state = "running"
            entry.pid = nil
        case .die:
            entry.summary.state = "exited"
            entry.pid = nil
        case .pause:
            entry.summary.state = "paused"
        case .unpause:
            entry.summary.state = "running"
        case .rename:
            if let name = event.name {
                entry.summary.name = name
                entry.summary.names = [name]
            }
        case .destroy:
            break
        }
        entry.changedBy = changes
        entries[id] = entry
    }

    /// The kernel says the container's main process is gone (or is another process now): it is
    /// inspected again.
    mutating func forgetProcess(of id: String, pid: Int32) {
        guard entries[id]?.pid == pid else { return }
        entries[id]?.pid = nil
    }
}
