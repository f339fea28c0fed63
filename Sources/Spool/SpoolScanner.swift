#if canImport(Glibc)
import Glibc
#endif

/// Reads a spool's records without opening it: no lock, no cursor, no repair, so it works beside
/// a running agent (which holds the spool's lock). For `resource-watcher logs`. Damaged frames
/// are skipped; a torn tail (an append in progress) is simply not yet visible.
public enum SpoolScanner {
    /// Calls `visit` with each segment's records of `kinds` (in sequence order), newest segment
    /// first, until it returns false.
    public static func scanBackwards(
        directory: String,
        kinds: Set<RecordKind>,
        visit: ([SpoolRecord]) -> Bool
    ) throws(SpoolError) {
        for (name, _) in try segments(in: directory).reversed() {
            guard visit(try records(inSegment: directory + "/" + name, kinds: kinds, after: 0)) else { return }
        }
    }

    /// Every record of `kinds` after `sequence`, in order (reads only the segments that can hold them).
    public static func records(
        directory: String,
        kinds: Set<RecordKind>,
        after sequence: UInt64
    ) throws(SpoolError) -> [SpoolRecord] {
        let all = try segments(in: directory)
        // The last segment starting at or before the wanted sequence, and every later one.
        let start = all.lastIndex { $0.firstSequence <= sequence + 1 } ?? 0
        var result: [SpoolRecord] = []
        for (name, _) in all[start...] {
            result += try records(inSegment: directory + "/" + name, kinds: kinds, after: sequence)
        }
        return result
    }

    private static func segments(in directory: String) throws(SpoolError) -> [(name: String, firstSequence: UInt64)] {
        try FileIO.listDirectory(directory)
            .compactMap { name in FrameLayout.firstSequence(ofSegmentNamed: name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
    }

    private static func records(
        inSegment path: String,
        kinds: Set<RecordKind>,
        after sequence: UInt64
    ) throws(SpoolError) -> [SpoolRecord] {
        let bytes: [UInt8]
        do throws(SpoolError) {
            bytes = try FileIO.readWholeFile(path)
        } catch {
            // Deleted by retention between the listing and the read: nothing to show from it.
            if error.errnoValue == ENOENT { return [] }
            throw error
        }
        let decoder = FrameDecoder()
        return bytes.withUnsafeBytes { buffer in
            FrameCodec.scan(buffer).frames.compactMap { frame in
                let kind = RecordKind(rawValue: frame.kind)
                guard frame.sequence > sequence, kinds.contains(kind),
                    let payload = decoder.payload(of: frame, in: buffer)
                else { return nil }
                return SpoolRecord(sequence: frame.sequence, kind: kind, payload: payload)
            }
        }
    }
}
