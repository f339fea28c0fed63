/// Splits the `/events` body into lines as its pieces arrive (the engine writes one JSON document
/// per event, each ended by "\n"; a piece may hold several or part of one). A line longer than
/// `maximumLineBytes` is skipped whole and counted: the engine is outside input.
struct DockerEventLines: Sendable {
    /// Longer lines are dropped (an event's attributes carry every label of the container).
    static let defaultMaximumLineBytes = 256 << 10

    let maximumLineBytes: Int
    private var pending: [UInt8] = []
    /// Set while the rest of an over-long line is being skipped.
    private var skipping = false
    /// Lines dropped for their length since the caller last took the count.
    private(set) var droppedLines = 0

    init(maximumLineBytes: Int = DockerEventLines.defaultMaximumLineBytes) {
        self.maximumLineBytes = maximumLineBytes
    }

    /// The complete lines `piece` ends, in order, without their "\n".
    mutating func lines(in piece: [UInt8]) -> [ArraySlice<UInt8>] {
        var complete: [ArraySlice<UInt8>] = []
        var start = piece.startIndex
        while let newline = piece[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if skipping {
                skipping = false
            } else if pending.count + (newline - start) > maximumLineBytes {
                droppedLines += 1
            } else if pending.isEmpty {
                complete.append(piece[start..<newline])
            } else {
                pending += piece[start..<newline]
                complete.append(pending[...])
            }
            pending = []
            start = newline + 1
        }
        let rest = piece[start...]
        if !skipping {
            if pending.count + rest.count > maximumLineBytes {
                droppedLines += 1
                skipping = true
                pending = []
            } else {
                pending += rest
            }
        }
        return complete
    }

    /// The count of dropped lines, reset to zero.
    mutating func takeDroppedLines() -> Int {
        defer { droppedLines = 0 }
        return droppedLines
    }
}
