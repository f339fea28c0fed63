/// Bounds on one log reader's work per source (a tailed file, a container) and tick; the rest is
/// read on the next tick.
struct LogReadLimits: Sendable {
    /// Message bytes taken from one source per tick.
    var maxBytesPerSource = 4 << 20
    /// Lines taken from one source per tick.
    var maxLinesPerSource = 10_000
    /// Longer lines are cut to this many bytes (metadata `truncated`, `original_length`).
    var maxLineBytes = 256 << 10

    /// Whether the limits leave room for a line.
    var areUsable: Bool { maxLineBytes >= 4 && maxBytesPerSource > 0 && maxLinesPerSource > 0 }
}
