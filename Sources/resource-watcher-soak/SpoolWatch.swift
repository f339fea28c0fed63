import Spool

/// Every record the agent's spool acknowledged, read beside the running agent once a second
/// (`SpoolScanner`: no lock, no repair; an append in progress is not visible yet), before
/// retention deletes it: what the per-record accounting checks at each destination. Kept in
/// memory: a 10 minute soak appends a few thousand records.
final class SpoolWatch {
    let directory: String
    /// By sequence: every record seen.
    private(set) var records: [UInt64: SpoolRecord] = [:]
    /// Sequences seen again with other bytes (the spool gave a number out twice): should be none.
    private(set) var replaced: [UInt64] = []
    /// Scans that failed (the error), for the report; the next scan tries again.
    private(set) var failedScans: [String] = []
    private var last: UInt64 = 0

    init(directory: String) {
        self.directory = directory
    }

    /// Reads what was appended since the last scan, and the few records before it again, to
    /// notice a sequence whose record changed.
    func scan() {
        do {
            let found = try SpoolScanner.records(
                directory: directory,
                kinds: [.sample, .logs, .usage],
                after: last > 8 ? last - 8 : 0
            )
            for record in found {
                if let earlier = records[record.sequence] {
                    if earlier != record, !replaced.contains(record.sequence) { replaced.append(record.sequence) }
                } else {
                    records[record.sequence] = record
                }
                last = max(last, record.sequence)
            }
        } catch {
            // A missing directory before the agent's first append is not worth a line.
            if failedScans.count < 20 { failedScans.append("\(error)") }
        }
    }

    /// Sequences between 1 and the newest seen that were never seen (deleted before a scan, or
    /// unreadable).
    var unseen: [UInt64] {
        guard last > 0 else { return [] }
        return (1...last).filter { records[$0] == nil }
    }
}
