/// A read-only check of every segment and cursor of a spool, for `resource-watcher spool verify`.
/// Unlike opening, it reads every segment in full and repairs nothing.
public enum SpoolVerifier {
    public struct SegmentReport: Sendable {
        public let name: String
        public let sizeBytes: Int
        public let frameCount: Int
        public let firstSequence: UInt64?
        public let lastSequence: UInt64?
        public let corruptRegions: [CorruptRegion]
        /// Bytes after the last valid frame holding no valid frame (torn or garbage tail).
        public let tailBytes: Int
        /// Frames whose sequence did not increase over the previous frame.
        public let outOfOrderFrames: Int
        /// Frames with a valid CRC whose payload does not decompress.
        public let undecodableFrames: Int
    }

    public struct Report: Sendable {
        public var segments: [SegmentReport] = []
        /// Consumer name and cursor, or nil for a cursor file that does not parse.
        public var cursors: [(name: String, sequence: UInt64?)] = []
        /// Sequence numbers missing between consecutive frames across the whole spool.
        public var missingSequences: UInt64 = 0

        public var frameCount: Int { segments.reduce(0) { $0 + $1.frameCount } }
        public var isHealthy: Bool {
            segments.allSatisfy {
                $0.corruptRegions.isEmpty && $0.tailBytes == 0 && $0.outOfOrderFrames == 0 && $0.undecodableFrames == 0
            }
                && cursors.allSatisfy { $0.sequence != nil }
        }
    }

    public static func verify(directory: String) throws(SpoolError) -> Report {
        var report = Report()
        let names = try FileIO.listDirectory(directory)
            .compactMap { name in FrameLayout.firstSequence(ofSegmentNamed: name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
        var previous: UInt64?
        let decoder = FrameDecoder()
        for (name, _) in names {
            let bytes = try FileIO.readWholeFile(directory + "/" + name)
            let segment = bytes.withUnsafeBytes { buffer -> SegmentReport in
                let scan = FrameCodec.scan(buffer)
                var outOfOrder = 0
                var undecodable = 0
                for frame in scan.frames {
                    if let last = previous {
                        if frame.sequence <= last {
                            outOfOrder += 1
                        } else {
                            report.missingSequences += frame.sequence - last - 1
                        }
                    }
                    previous = max(previous ?? 0, frame.sequence)
                    if decoder.payload(of: frame, in: buffer) == nil { undecodable += 1 }
                }
                return SegmentReport(
                    name: name,
                    sizeBytes: bytes.count,
                    frameCount: scan.frames.count,
                    firstSequence: scan.frames.first?.sequence,
                    lastSequence: scan.frames.last?.sequence,
                    corruptRegions: scan.corruptRegions.map {
                        CorruptRegion(segment: name, offset: $0.offset, length: $0.length)
                    },
                    tailBytes: scan.tailBytes,
                    outOfOrderFrames: outOfOrder,
                    undecodableFrames: undecodable
                )
            }
            report.segments.append(segment)
        }
        let cursorDirectory = directory + "/cursors"
        for name in ((try? FileIO.listDirectory(cursorDirectory)) ?? []).sorted()
        where name.hasSuffix(CursorFile.suffix) {
            let consumer = String(name.dropLast(CursorFile.suffix.count))
            let bytes = try? FileIO.readWholeFile(cursorDirectory + "/" + name)
            report.cursors.append((consumer, bytes.flatMap(CursorFile.decode)))
        }
        return report
    }
}
