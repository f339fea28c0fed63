import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What readers need of the writer: the segments to read, and the losses they report.
extension Spool {
    // MARK: - For readers

    /// Where a reader may read: every segment, and how far the last one is complete.
    struct ReadableView {
        let segments: [(firstSequence: UInt64, path: String)]
        /// Bytes of the last segment that hold complete frames.
        let lastSegmentCommittedBytes: Int
    }

    func readableView() -> ReadableView {
        state.withLock { state in
            ReadableView(
                segments: state.segments.map { ($0.firstSequence, $0.path) },
                lastSegmentCommittedBytes: state.segments.last?.sizeBytes ?? 0
            )
        }
    }

    func recordReaderLoss(consumer: String, lostRecords: UInt64, corruptRegions: UInt64) {
        guard lostRecords > 0 || corruptRegions > 0 else { return }
        state.withLock { state in
            state.consumers[consumer]?.lostRecords += lostRecords
            state.consumers[consumer]?.corruptRegionsSkipped += corruptRegions
            publishStatistics(state)
        }
    }
}
