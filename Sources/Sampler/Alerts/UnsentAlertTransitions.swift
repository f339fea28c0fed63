import WatcherProto

/// Alert transitions whose sample batch was never appended (disk full, I/O error), waiting to
/// ride in the next batch. The evaluator has moved on by then, so without this queue their
/// `firing` or `resolved` would reach no destination. A pure value: the composer takes them out
/// for each batch and gives them back when that batch is not appended.
///
/// Bounded by `limit`, so a disk full for hours cannot grow memory (or the next batch) without
/// end. Over it, what goes first keeps every destination's view of an episode whole: an episode
/// is one alert (component, tenant, type) from its `firing` (time == `since_unix_ms`) on.
/// 1. The oldest episode held whole (its first `firing` and its `resolved` both queued): no
///    destination ever heard of it, and none will hear half of it.
/// 2. The oldest severity change followed by a later transition of the same episode: that later
///    one carries the severity (or the resolution) that matters.
/// 3. Only then the oldest transition. After 1 and 2 an alert has at most three queued: the
///    end (severity change or `resolved`) of the episode that began before the queue did, and
///    the start and latest severity change of the open one; so this needs over `limit / 3`
///    alerts changing while the disk is full.
struct UnsentAlertTransitions: Sendable {
    /// The most transitions held (about 300 bytes each).
    static let defaultLimit = 1024

    let limit: Int
    /// Oldest first.
    private(set) var transitions: [ResourceWatcher_V1_AlertTransition] = []

    init(limit: Int = Self.defaultLimit) {
        precondition(limit > 0, "the queue holds at least one transition")
        self.limit = limit
    }

    var isEmpty: Bool { transitions.isEmpty }

    /// Takes every transition out, oldest first, for the next batch.
    mutating func takeAll() -> [ResourceWatcher_V1_AlertTransition] {
        defer { transitions = [] }
        return transitions
    }

    /// Gives back `transitions`, oldest first, of a batch that was not appended (they follow
    /// any still queued), and cuts the queue to `limit`. Returns what was cut.
    mutating func giveBack(_ transitions: [ResourceWatcher_V1_AlertTransition]) -> [ResourceWatcher_V1_AlertTransition]
    {
        self.transitions += transitions
        var cut: [ResourceWatcher_V1_AlertTransition] = []
        while self.transitions.count > limit {
            let indices = wholeEpisode() ?? supersededSeverityChange().map { [$0] } ?? [0]
            for index in indices.reversed() { cut.append(self.transitions.remove(at: index)) }
        }
        return cut
    }

    /// The alert and episode a transition belongs to.
    private struct Episode: Hashable {
        var component: String
        var clientID: String
        var alertType: Int
        var sinceUnixMilliseconds: Int64

        init(_ transition: ResourceWatcher_V1_AlertTransition) {
            component = transition.alert.component
            clientID = transition.alert.clientID
            alertType = transition.alert.alertType.rawValue
            sinceUnixMilliseconds = transition.alert.sinceUnixMs
        }
    }

    private static func starts(_ transition: ResourceWatcher_V1_AlertTransition) -> Bool {
        transition.state == .firing && transition.atUnixMs == transition.alert.sinceUnixMs
    }

    /// The indices of the oldest episode whose start and resolution are both queued.
    private func wholeEpisode() -> [Int]? {
        var started: Set<Episode> = []
        for (index, transition) in transitions.enumerated() {
            let episode = Episode(transition)
            if Self.starts(transition) {
                started.insert(episode)
            } else if transition.state == .resolved, started.contains(episode) {
                return transitions.indices.filter { Episode(transitions[$0]) == episode && $0 <= index }
            }
        }
        return nil
    }

    /// The index of the oldest severity change with a later transition of its episode queued.
    private func supersededSeverityChange() -> Int? {
        var later: Set<Episode> = []
        var oldest: Int?
        for index in transitions.indices.reversed() {
            let transition = transitions[index]
            let episode = Episode(transition)
            if transition.state == .firing, !Self.starts(transition), later.contains(episode) { oldest = index }
            later.insert(episode)
        }
        return oldest
    }
}
