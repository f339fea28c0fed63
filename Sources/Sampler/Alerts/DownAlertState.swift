/// Where one component's `component_down` alert stands: fires after `forSamples` consecutive
/// ticks seen down (or missing), resolves on the first tick it is seen up again. Resolving at
/// once is deliberate: a component that answers is not down, and `for_samples` already keeps a
/// single missed tick from paging.
struct DownAlertState: Sendable, Equatable {
    /// What a tick changed.
    enum Change: Sendable, Equatable {
        case fired
        case resolved(sinceUnixMilliseconds: Int64)
    }

    private(set) var consecutiveDown = 0
    /// When the alert started firing; nil while it is not firing.
    private(set) var firingSinceUnixMilliseconds: Int64?

    /// Firing since `since` (before a restart): the down count is already paid.
    static func restored(firingSince since: Int64, forSamples: Int) -> DownAlertState {
        var state = DownAlertState()
        state.firingSinceUnixMilliseconds = since
        state.consecutiveDown = max(1, forSamples)
        return state
    }

    /// Down for `count` ticks in a row before a restart, not firing yet: the count goes on.
    static func pending(consecutiveDown count: Int) -> DownAlertState {
        var state = DownAlertState()
        state.consecutiveDown = max(0, count)
        return state
    }

    /// Down ticks in a row counted toward firing; 0 while firing or up.
    var pendingCount: Int { firingSinceUnixMilliseconds == nil ? consecutiveDown : 0 }

    /// Takes one tick's verdict and returns what changed, if anything.
    mutating func observe(isDown: Bool, forSamples: Int, nowUnixMilliseconds: Int64) -> Change? {
        guard isDown else {
            consecutiveDown = 0
            guard let since = firingSinceUnixMilliseconds else { return nil }
            firingSinceUnixMilliseconds = nil
            return .resolved(sinceUnixMilliseconds: since)
        }
        // Saturate instead of overflowing on a component that stays down for ages.
        consecutiveDown = consecutiveDown == Int.max ? consecutiveDown : consecutiveDown + 1
        guard firingSinceUnixMilliseconds == nil, consecutiveDown >= max(1, forSamples) else { return nil }
        firingSinceUnixMilliseconds = nowUnixMilliseconds
        return .fired
    }
}
