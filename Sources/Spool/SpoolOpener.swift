#if canImport(Glibc)
import Glibc
#endif

/// Opening a spool: find segments, repair the last one, restore the head, load cursors.
/// Reads only the last segment (and the one before it when the last holds no sample record).
struct SpoolOpener {
    let directory: String
    let cursorDirectory: String
    let consumers: [String]

    struct Opened {
        var segments: [Spool.Segment]
        var nextSequence: UInt64
        var head: [RecordKind: SpoolRecord]
        var cursors: [String: UInt64]
        /// Cursors created on first use, to persist before the spool is used.
        var newCursors: [(String, UInt64)]
        var report: SpoolRecoveryReport
    }

    func open() throws(SpoolError) -> Opened {
        for name in consumers where !CursorFile.isValidConsumerName(name) {
            throw SpoolError(.invalidArgument, "consumer name \"\(name)\" must be 1-100 of [A-Za-z0-9_-]")
        }
        var report = SpoolRecoveryReport()
        var segments = try listSegments()
        report.segmentCount = segments.count

        var head: [RecordKind: SpoolRecord] = [:]
        var lastSequence: UInt64?
        if let lastIndex = segments.indices.last {
            let scanned = try scanLastSegment(&segments[lastIndex], report: &report)
            lastSequence = scanned.lastSequence
            head = scanned.latest
            // The newest sample may be further back than the last segment (a tick's logs can
            // fill segments of their own): look back until one is found.
            var index = lastIndex
            while head[.sample] == nil, index > 0 {
                index -= 1
                let previous = try latestRecords(in: segments[index].path)
                head.merge(previous.latest) { newer, _ in newer }
                if lastSequence == nil { lastSequence = previous.lastSequence }
            }
        }
        // Without frames in the last segment, its name still says where numbering had reached.
        var nextSequence = max((lastSequence ?? 0) + 1, segments.last?.firstSequence ?? 1)

        var cursors: [String: UInt64] = [:]
        var newCursors: [(String, UInt64)] = []
        let startOfData = (segments.first?.firstSequence ?? nextSequence) - 1
        for name in consumers {
            let path = CursorFile.path(for: name, in: cursorDirectory)
            try? FileIO.remove(path + ".tmp")
            if let bytes = try? FileIO.readWholeFile(path) {
                if let sequence = CursorFile.decode(bytes) {
                    cursors[name] = sequence
                    if sequence >= nextSequence { report.cursorsAheadOfData.append(name) }
                    continue
                }
                report.unreadableCursors.append(name)
            }
            cursors[name] = startOfData
            newCursors.append((name, startOfData))
        }
        if let highest = cursors.values.max(), highest >= nextSequence { nextSequence = highest + 1 }
        return Opened(
            segments: segments,
            nextSequence: nextSequence,
            head: head,
            cursors: cursors,
            newCursors: newCursors,
            report: report
        )
    }

    /// Segment names only: sizes and ages of closed segments are read later, when a cap needs
    /// them (see `Spool.State.loadSegmentMetadata`); the last segment's come from its scan.
    private func listSegments() throws(SpoolError) -> [Spool.Segment] {
        var segments: [Spool.Segment] = []
        for name in try FileIO.listDirectory(directory) {
            guard let first = FrameLayout.firstSequence(ofSegmentNamed: name) else { continue }
            segments.append(
                Spool.Segment(
                    firstSequence: first,
                    path: directory + "/" + name,
                    sizeBytes: 0,
                    lastWriteUnixSeconds: 0,
                    metadataKnown: false
                )
            )
        }
        return segments.sorted { $0.firstSequence < $1.firstSequence }
    }

    private struct Latest {
        var latest: [RecordKind: SpoolRecord] = [:]
        var lastSequence: UInt64?
    }

    /// Scans the last segment, cuts off a torn or garbage tail, and returns its newest records.
    private func scanLastSegment(
        _ segment: inout Spool.Segment,
        report: inout SpoolRecoveryReport
    ) throws(SpoolError) -> Latest {
        let bytes = try FileIO.readWholeFile(segment.path)
        let (scan, latest) = bytes.withUnsafeBytes { buffer in
            let scan = FrameCodec.scan(buffer)
            return (scan, Self.latestRecords(of: scan, in: buffer))
        }
        let name = String(segment.path.split(separator: "/").last ?? "")
        report.corruptRegions = scan.corruptRegions.map {
            CorruptRegion(segment: name, offset: $0.offset, length: $0.length)
        }
        if scan.tailBytes > 0 {
            let descriptor = try FileIO.open(segment.path, flags: O_WRONLY)
            defer { close(descriptor) }
            try FileIO.truncate(descriptor, path: segment.path, to: scan.validEnd)
            try FileIO.syncData(descriptor, path: segment.path)
            report.truncatedSegment = name
            report.truncatedBytes = scan.tailBytes
        }
        segment.sizeBytes = scan.validEnd
        var info = stat()
        segment.lastWriteUnixSeconds = stat(segment.path, &info) == 0 ? Int(info.st_mtim.tv_sec) : Int(time(nil))
        segment.metadataKnown = true
        return latest
    }

    private func latestRecords(in path: String) throws(SpoolError) -> Latest {
        let bytes = try FileIO.readWholeFile(path)
        return bytes.withUnsafeBytes { buffer in Self.latestRecords(of: FrameCodec.scan(buffer), in: buffer) }
    }

    private static func latestRecords(of scan: FrameCodec.Scan, in buffer: UnsafeRawBufferPointer) -> Latest {
        var result = Latest()
        var newestIndex: [UInt8: Int] = [:]
        for (index, frame) in scan.frames.enumerated() {
            newestIndex[frame.kind] = index
            result.lastSequence = max(result.lastSequence ?? 0, frame.sequence)
        }
        let decoder = FrameDecoder()
        for (kind, index) in newestIndex {
            let frame = scan.frames[index]
            guard let payload = decoder.payload(of: frame, in: buffer) else { continue }
            result.latest[RecordKind(rawValue: kind)] = SpoolRecord(
                sequence: frame.sequence,
                kind: RecordKind(rawValue: kind),
                payload: payload
            )
        }
        return result
    }
}
