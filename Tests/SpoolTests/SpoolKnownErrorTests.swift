import TestSupport
import Testing

@testable import Spool

/// Damage the files of a closed spool in every way the format must survive, reopen, and check
/// that only valid frames come back and that the damage is reported.
@Suite("Spool known errors")
struct SpoolKnownErrorTests {
    /// A spool of `count` records (payload = CrashPayload(index: sequence)) in one segment.
    private func makeSpool(records count: Int, segmentSizeBytes: Int = 8 << 20) throws -> TemporaryDirectory {
        let directory = TemporaryDirectory()
        let spool = try openSpool(directory.path, segmentSizeBytes: segmentSizeBytes)
        for index in 1...count { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
        spool.close()
        return directory
    }

    private func expectIntact(
        _ records: [SpoolRecord],
        sequences: [UInt64],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(records.map(\.sequence) == sequences, sourceLocation: sourceLocation)
        for record in records {
            #expect(record.payload == CrashPayload.make(index: record.sequence), sourceLocation: sourceLocation)
        }
    }

    @Test("truncating the last frame at every byte offset cuts back to the previous frame")
    func truncateLastFrameEverywhere() throws {
        let original = try makeSpool(records: 5)
        defer { original.remove() }
        let segment = try #require(try segmentFiles(original.path).first)
        let bytes = try readFile(segment)
        let last = try #require(try frames(of: segment).last)
        #expect(last.endOffset == bytes.count)
        for cut in last.offset..<last.endOffset {
            let copy = TemporaryDirectory()
            defer { copy.remove() }
            copyDirectory(original.path, to: copy.path)
            try writeFile(copy.path + "/" + String(segment.split(separator: "/").last!), Array(bytes[0..<cut]))
            let spool = try openSpool(copy.path)
            #expect(spool.recovery.truncatedBytes == cut - last.offset, "cut at \(cut)")
            #expect(spool.recovery.corruptRegions.isEmpty)
            let result = try readAll(spool)
            expectIntact(result.records, sequences: [1, 2, 3, 4])
            #expect(result.corruptRegions.isEmpty && result.lostRecords == 0)
            #expect(spool.latest(.sample)?.sequence == 4)
            #expect(try spool.append(kind: .sample, payload: CrashPayload.make(index: 5)) == 5)
            expectIntact(try readAll(spool).records, sequences: [1, 2, 3, 4, 5])
        }
    }

    /// Damages frame `frameIndex` (of 5) with `damage`, reopens, and checks the frame is skipped.
    private func expectSkipped(frameIndex: Int, damage: (inout [UInt8], FrameHeader) -> Void) throws {
        let directory = try makeSpool(records: 5)
        defer { directory.remove() }
        let segment = try #require(try segmentFiles(directory.path).first)
        var bytes = try readFile(segment)
        let target = try frames(of: segment)[frameIndex]
        damage(&bytes, target)
        try writeFile(segment, bytes)
        let spool = try openSpool(directory.path)
        #expect(spool.recovery.corruptRegions.count == 1)
        #expect(spool.recovery.corruptRegions.first?.offset == target.offset)
        #expect(spool.recovery.truncatedBytes == 0)
        let result = try readAll(spool)
        let expected = (1...5).filter { $0 != frameIndex + 1 }.map(UInt64.init)
        expectIntact(result.records, sequences: expected)
        #expect(result.lostRecords == 1)
        #expect(result.corruptRegions.count == 1)
        #expect(spool.statistics().consumers["test"]?.corruptRegionsSkipped == 1)
        #expect(try spool.append(kind: .sample, payload: [0]) == 6)
        let report = try SpoolVerifier.verify(directory: directory.path)
        #expect(!report.isHealthy)
    }

    @Test("a zeroed length in a middle frame is skipped and counted")
    func zeroLength() throws {
        try expectSkipped(frameIndex: 2) { bytes, frame in
            for offset in (frame.offset + 4)..<(frame.offset + 8) { bytes[offset] = 0 }
        }
    }

    @Test("a flipped bit in the CRC is skipped and counted")
    func flippedCRC() throws {
        try expectSkipped(frameIndex: 1) { bytes, frame in bytes[frame.offset + 9] ^= 0x04 }
    }

    @Test("a flipped bit in the header's sequence is skipped and counted")
    func flippedHeader() throws {
        try expectSkipped(frameIndex: 3) { bytes, frame in bytes[frame.offset + 12] ^= 0x01 }
    }

    @Test("a flipped bit in the kind byte is skipped and counted")
    func flippedKind() throws {
        try expectSkipped(frameIndex: 0) { bytes, frame in bytes[frame.offset + 20] ^= 0x80 }
    }

    @Test("a flipped bit in the payload is skipped and counted")
    func flippedPayload() throws {
        try expectSkipped(frameIndex: 2) { bytes, frame in bytes[frame.payloadOffset + frame.payloadLength / 2] ^= 0x20
        }
    }

    @Test("a flipped bit in the magic is skipped and counted")
    func flippedMagic() throws {
        try expectSkipped(frameIndex: 1) { bytes, frame in bytes[frame.offset] ^= 0x01 }
    }

    @Test("damage to the last frame is cut off as a torn tail")
    func damagedLastFrame() throws {
        let directory = try makeSpool(records: 5)
        defer { directory.remove() }
        let segment = try #require(try segmentFiles(directory.path).first)
        var bytes = try readFile(segment)
        let last = try #require(try frames(of: segment).last)
        bytes[last.payloadOffset + 3] ^= 0xFF
        try writeFile(segment, bytes)
        let spool = try openSpool(directory.path)
        #expect(spool.recovery.truncatedBytes == last.endOffset - last.offset)
        expectIntact(try readAll(spool).records, sequences: [1, 2, 3, 4])
    }

    @Test("damage in a closed segment is found by the reader, skipped and counted")
    func damageInClosedSegment() throws {
        let directory = try makeSpool(records: 60, segmentSizeBytes: 16 << 10)
        defer { directory.remove() }
        let segments = try segmentFiles(directory.path)
        #expect(segments.count >= 3)
        var bytes = try readFile(segments[0])
        let target = try frames(of: segments[0])[1]
        bytes[target.payloadOffset + 1] ^= 0x01
        try writeFile(segments[0], bytes)
        let spool = try openSpool(directory.path, segmentSizeBytes: 16 << 10)
        #expect(spool.recovery.isClean)  // open reads only the last segment
        let result = try readAll(spool)
        expectIntact(result.records, sequences: (1...60).filter { $0 != target.sequence })
        #expect(result.corruptRegions.count == 1)
        #expect(result.lostRecords == 1)
    }

    @Test("deleting the segment a cursor points into loses only that segment's records")
    func deletedSegmentUnderCursor() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let spool = try openSpool(directory.path, segmentSizeBytes: 16 << 10)
            for index in 1...60 { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
            spool.close()
        }
        let segments = try segmentFiles(directory.path)
        #expect(segments.count >= 3)
        let second = try frames(of: segments[1])
        let third = try frames(of: segments[2])
        let cursor = second[1].sequence
        do {
            let spool = try openSpool(directory.path, segmentSizeBytes: 16 << 10)
            try spool.acknowledge(consumer: "test", through: cursor)
            spool.close()
        }
        try FileIO.remove(segments[1])
        let spool = try openSpool(directory.path, segmentSizeBytes: 16 << 10)
        let result = try readAll(spool)
        expectIntact(result.records, sequences: Array(third[0].sequence...60))
        #expect(result.lostRecords == third[0].sequence - cursor - 1)
        #expect(result.corruptRegions.isEmpty)
    }

    @Test("a cursor beyond the end is reported and new records are numbered after it")
    func cursorBeyondEnd() throws {
        let directory = try makeSpool(records: 10)
        defer { directory.remove() }
        try writeFile(CursorFile.path(for: "test", in: directory.path + "/cursors"), CursorFile.encode(1000))
        let spool = try openSpool(directory.path, consumers: ["test", "other"])
        #expect(spool.recovery.cursorsAheadOfData == ["test"])
        #expect(try spool.append(kind: .sample, payload: CrashPayload.make(index: 1001)) == 1001)
        expectIntact(try readAll(spool, consumer: "test").records, sequences: [1001])
        let other = try readAll(spool, consumer: "other")
        expectIntact(other.records, sequences: Array(1...10) + [1001])
    }

    @Test("an unreadable cursor file is reported and its consumer restarts from the oldest record")
    func unreadableCursor() throws {
        let directory = try makeSpool(records: 10)
        defer { directory.remove() }
        try writeFile(CursorFile.path(for: "test", in: directory.path + "/cursors"), Array("garbage".utf8))
        let spool = try openSpool(directory.path)
        #expect(spool.recovery.unreadableCursors == ["test"])
        expectIntact(try readAll(spool).records, sequences: Array(1...10))
    }

    @Test("an empty segment file after the last one is reused for the next record")
    func emptySegmentFile() throws {
        let directory = try makeSpool(records: 10)
        defer { directory.remove() }
        try writeFile(directory.path + "/" + FrameLayout.segmentFileName(firstSequence: 11), [])
        let spool = try openSpool(directory.path)
        #expect(spool.recovery.isClean)
        #expect(spool.latest(.sample)?.sequence == 10)
        #expect(try spool.append(kind: .sample, payload: CrashPayload.make(index: 11)) == 11)
        expectIntact(try readAll(spool).records, sequences: Array(1...11))
    }

    @Test("a garbage last segment is cut off and numbering continues after its name")
    func garbageLastSegment() throws {
        let directory = try makeSpool(records: 10)
        defer { directory.remove() }
        let garbage = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }
        try writeFile(directory.path + "/" + FrameLayout.segmentFileName(firstSequence: 11), garbage)
        let spool = try openSpool(directory.path)
        #expect(spool.recovery.truncatedBytes == 5000)
        #expect(spool.latest(.sample)?.sequence == 10)
        #expect(try spool.append(kind: .sample, payload: CrashPayload.make(index: 11)) == 11)
        let result = try readAll(spool)
        expectIntact(result.records, sequences: Array(1...11))
        #expect(result.corruptRegions.isEmpty)
    }

    @Test("a garbage segment between valid ones is skipped by readers and counted")
    func garbageMiddleSegment() throws {
        let directory = try makeSpool(records: 60, segmentSizeBytes: 16 << 10)
        defer { directory.remove() }
        let segments = try segmentFiles(directory.path)
        let middle = try frames(of: segments[1])
        try writeFile(segments[1], (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let spool = try openSpool(directory.path, segmentSizeBytes: 16 << 10)
        let result = try readAll(spool)
        let lostRange = middle.first!.sequence...middle.last!.sequence
        expectIntact(result.records, sequences: (1...60).filter { !lostRange.contains($0) })
        #expect(result.corruptRegions.count == 1)
        #expect(result.lostRecords == UInt64(middle.count))
    }
}
