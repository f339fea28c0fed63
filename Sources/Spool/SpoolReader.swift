import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Reads one consumer's records in sequence order, after its acknowledged cursor.
///
/// The reader moves ahead of the cursor as it returns records; the consumer calls
/// `Spool.acknowledge(consumer:through:)` with `ReadResult.throughSequence` once they are delivered.
/// Damage is skipped and reported, never returned; a jump in sequence numbers (a segment deleted
/// by a cap or by hand) is counted as lost records.
public final class SpoolReader: Sendable {
    public let consumer: String
    private let spool: Spool
    private let state: Mutex<State>

    private struct State {
        /// Highest sequence number read (returned or skipped).
        var delivered: UInt64
        var segmentFirstSequence: UInt64?
        /// File offset of the next frame in the current segment.
        var position = 0
        /// Bytes of the current segment starting at file offset `bufferStart`.
        var buffer: [UInt8] = []
        var bufferStart = 0
        var decoder = FrameDecoder()
    }

    /// The outcome of one `read`.
    public struct ReadResult: Sendable {
        public var records: [SpoolRecord] = []
        /// Every sequence up to this one has been returned or skipped; acknowledge through it.
        public var throughSequence: UInt64
        /// Sequence numbers that were expected but are gone.
        public var lostRecords: UInt64 = 0
        /// Damaged regions skipped during this read.
        public var corruptRegions: [CorruptRegion] = []
    }

    init(spool: Spool, consumer: String, after cursor: UInt64) {
        self.spool = spool
        self.consumer = consumer
        self.state = Mutex(State(delivered: cursor))
    }

    /// Returns up to `maxRecords` records (and about `maxBytes` of payload) after the last ones read.
    /// Records whose kind is not in `kinds` are skipped without being decompressed.
    public func read(
        maxRecords: Int,
        maxBytes: Int = 4 << 20,
        kinds: Set<RecordKind>? = nil
    ) throws(SpoolError) -> ReadResult {
        let view = spool.readableView()
        let result = try state.withLock { (state) throws(SpoolError) -> ReadResult in
            var result = ReadResult(throughSequence: state.delivered)
            var payloadBytes = 0
            while result.records.count < maxRecords && payloadBytes < maxBytes {
                guard let index = currentSegmentIndex(in: view, state: &state) else { break }
                let segment = view.segments[index]
                let isLast = index == view.segments.count - 1
                guard
                    let end = try load(
                        segment.path,
                        isLast: isLast,
                        committed: view.lastSegmentCommittedBytes,
                        state: &state
                    )
                else {
                    // The segment is gone: carry on with the next one; the jump counts as lost.
                    if isLast { break }
                    moveTo(view.segments[index + 1].firstSequence, state: &state)
                    continue
                }
                let name = String(segment.path.split(separator: "/").last ?? "")
                let exhausted = scanFrames(
                    segmentName: name,
                    end: end,
                    maxRecords: maxRecords,
                    maxBytes: maxBytes,
                    kinds: kinds,
                    payloadBytes: &payloadBytes,
                    result: &result,
                    state: &state
                )
                guard exhausted else { break }
                if isLast { break }
                moveTo(view.segments[index + 1].firstSequence, state: &state)
            }
            result.throughSequence = state.delivered
            return result
        }
        spool.recordReaderLoss(
            consumer: consumer,
            lostRecords: result.lostRecords,
            corruptRegions: UInt64(result.corruptRegions.count)
        )
        return result
    }

    private func currentSegmentIndex(in view: Spool.ReadableView, state: inout State) -> Int? {
        guard !view.segments.isEmpty else { return nil }
        if let current = state.segmentFirstSequence,
            let index = view.segments.firstIndex(where: { $0.firstSequence == current })
        {
            return index
        }
        // Start (or restart, if ours was deleted) in the last segment that begins at or before
        // the next sequence we need; if all begin later, in the first one.
        let wanted = state.delivered + 1
        let index = view.segments.lastIndex(where: { $0.firstSequence <= wanted }) ?? 0
        moveTo(view.segments[index].firstSequence, state: &state)
        return index
    }

    private func moveTo(_ firstSequence: UInt64, state: inout State) {
        state.segmentFirstSequence = firstSequence
        state.position = 0
        state.buffer = []
        state.bufferStart = 0
    }

    /// Makes the buffer hold the segment from `position` to its readable end; returns that end,
    /// or nil when the file no longer exists.
    private func load(_ path: String, isLast: Bool, committed: Int, state: inout State) throws(SpoolError) -> Int? {
        let descriptor: Int32
        do throws(SpoolError) { descriptor = try FileIO.open(path, flags: O_RDONLY) } catch {
            if error.errnoValue == ENOENT { return nil }
            throw error
        }
        defer { close(descriptor) }
        let end = isLast ? committed : try FileIO.size(of: descriptor, path: path)
        let bufferEnd = state.bufferStart + state.buffer.count
        if state.position < state.bufferStart || bufferEnd < end {
            state.buffer = try FileIO.read(
                descriptor,
                path: path,
                offset: state.position,
                count: max(0, end - state.position)
            )
            state.bufferStart = state.position
        }
        return min(end, state.bufferStart + state.buffer.count)
    }

    /// Walks frames from `position` to `end`; returns true when the segment's readable bytes are used up.
    private func scanFrames(
        segmentName: String,
        end: Int,
        maxRecords: Int,
        maxBytes: Int,
        kinds: Set<RecordKind>?,
        payloadBytes: inout Int,
        result: inout ReadResult,
        state: inout State
    ) -> Bool {
        let start = state.bufferStart
        let limit = end - start
        return state.buffer.withUnsafeBytes { whole -> Bool in
            let buffer = UnsafeRawBufferPointer(rebasing: whole[0..<limit])
            while state.position < end {
                if result.records.count >= maxRecords || payloadBytes >= maxBytes { return false }
                let offset = state.position - start
                guard case .frame(let header) = FrameCodec.probe(buffer, at: offset) else {
                    let next = FrameCodec.resynchronise(buffer, after: offset) ?? limit
                    result.corruptRegions.append(
                        CorruptRegion(segment: segmentName, offset: state.position, length: next - offset)
                    )
                    state.position = start + next
                    continue
                }
                state.position = start + header.endOffset
                guard header.sequence > state.delivered else { continue }
                let kind = RecordKind(rawValue: header.kind)
                if let kinds, !kinds.contains(kind) {
                    result.lostRecords += spool.lostRecords(
                        after: state.delivered,
                        before: header.sequence,
                        kinds: kinds
                    )
                    state.delivered = header.sequence
                    continue
                }
                guard let payload = state.decoder.payload(of: header, in: buffer) else {
                    result.corruptRegions.append(
                        CorruptRegion(
                            segment: segmentName,
                            offset: start + header.offset,
                            length: header.endOffset - header.offset
                        )
                    )
                    continue
                }
                result.lostRecords += spool.lostRecords(after: state.delivered, before: header.sequence, kinds: kinds)
                state.delivered = header.sequence
                payloadBytes += payload.count
                result.records.append(SpoolRecord(sequence: header.sequence, kind: kind, payload: payload))
            }
            return true
        }
    }
}
