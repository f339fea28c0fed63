import TestSupport
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// What a restart needs from the spool (the newest sample record: usage totals, active alerts)
/// stays reachable whatever retention deletes (issue 16, "usage totals after a rollover").
@Suite("Spool head and retention")
struct SpoolHeadRetentionTests {
    @Test("usage totals after a rollover: the newest sample survives every sink passing its segment and a restart")
    func newestSampleSurvivesRollover() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var spool: Spool? = try openSpool(directory.path, segmentSizeBytes: 4 << 10)
        let sample = Array("the newest sample, with the usage totals".utf8)
        let sampleSequence = try spool!.append(kind: .sample, payload: sample)
        // The tick's logs fill that segment and open the next ones.
        var last = sampleSequence
        for index in 0..<40 { last = try spool!.append(kind: .logs, payload: CrashPayload.make(index: UInt64(index))) }
        #expect(try segmentFiles(directory.path).count > 2)
        // Every sink passed everything; then the agent restarts before the next tick.
        try spool!.acknowledge(consumer: "test", through: last)
        #expect(spool!.latest(.sample)?.payload == sample)
        spool!.close()
        spool = nil
        let reopened = try openSpool(directory.path, segmentSizeBytes: 4 << 10)
        let head = try #require(reopened.latest(.sample), "the newest sample is gone after the restart")
        #expect(head.sequence == sampleSequence && head.payload == sample)
        // Retention still deletes what is older than it.
        try reopened.append(kind: .sample, payload: Array("next tick".utf8))
        let next = try reopened.append(kind: .logs, payload: [1])
        try reopened.acknowledge(consumer: "test", through: next)
        #expect(try segmentFiles(directory.path).count == 1)
        #expect(reopened.latest(.sample)?.payload == Array("next tick".utf8))
    }
}

/// A segment whose file cannot be deleted stays listed, so `max_bytes` and the statistics
/// count what is really on disk (issue 16). The directory is made immutable (`chattr +i`, as
/// root) so that unlink fails for real.
@Suite("Spool retention when a delete fails", .serialized)
struct SpoolUndeletableSegmentTests {
    @Test("a segment whose unlink failed stays listed and is deleted once it can be")
    func undeletableSegmentStaysCounted() throws {
        let directory = TemporaryDirectory()
        defer {
            _ = run("/usr/bin/chattr", ["-i", directory.path + "/spool"])
            directory.remove()
        }
        let path = directory.path + "/spool"
        let spool = try openSpool(path, segmentSizeBytes: 4 << 10)
        var last: UInt64 = 0
        for index in 0..<40 { last = try spool.append(kind: .logs, payload: CrashPayload.make(index: UInt64(index))) }
        try spool.append(kind: .sample, payload: [1])
        let files = try segmentFiles(path).count
        #expect(files > 2)
        try #require(run("/usr/bin/chattr", ["+i", path]) == 0, "chattr +i")
        try spool.acknowledge(consumer: "test", through: last)
        // Nothing could be deleted: everything is still listed and counted.
        #expect(try segmentFiles(path).count == files)
        #expect(spool.statistics().segmentCount == files)
        #expect(spool.statistics().totalBytes == (try segmentFiles(path).reduce(0) { $0 + (try readFile($1)).count }))
        try #require(run("/usr/bin/chattr", ["-i", path]) == 0)
        try spool.acknowledge(consumer: "test", through: last + 1)
        #expect(try segmentFiles(path).count == 1)
        #expect(spool.statistics().segmentCount == 1)
    }
}

/// `fsync: batch` promises that a returned append is on disk; a new segment whose name the
/// directory fsync could not make durable is not (issue 16). The failure comes from the spool's
/// test seam (a directory fsync does not fail on demand on a healthy disk).
@Suite("Spool durability when the directory fsync fails")
struct SpoolDirectorySyncTests {
    @Test("under fsync batch, an append that needs a new segment fails when the directory fsync fails")
    func batchFailsTheAppend() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var options = SpoolOptions(fsync: .batch)
        options.directorySyncFailsForTesting = true
        let spool = try Spool(
            directory: directory.path + "/spool",
            options: options,
            consumers: [],
            logger: quietLogger
        )
        #expect(throws: SpoolError.self) { try spool.append(kind: .sample, payload: [1, 2, 3]) }
        #expect(spool.latest(.sample) == nil)
        #expect(spool.statistics().droppedAppends.values.reduce(0, +) == 1)

        // Under `interval`, durability is already relaxed: the append goes ahead (logged).
        let relaxed = TemporaryDirectory()
        defer { relaxed.remove() }
        options.fsync = .interval
        let intervalSpool = try Spool(
            directory: relaxed.path + "/spool",
            options: options,
            consumers: [],
            logger: quietLogger
        )
        #expect(try intervalSpool.append(kind: .sample, payload: [1]) == 1)
    }

    @Test("a configured spool directory that is a link (the operator's choice) works under fsync batch")
    func spoolDirectoryAsALink() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try #require(mkdir(directory.path + "/real", 0o700) == 0)
        try #require(symlink(directory.path + "/real", directory.path + "/spool") == 0)
        let spool = try Spool(
            directory: directory.path + "/spool",
            options: SpoolOptions(segmentSizeBytes: 4 << 10, fsync: .batch),
            consumers: ["test"],
            logger: quietLogger
        )
        for index in 0..<20 { try spool.append(kind: .logs, payload: CrashPayload.make(index: UInt64(index))) }
        #expect(try segmentFiles(directory.path + "/real").count > 1)
        try spool.acknowledge(consumer: "test", through: 20)
    }
}

/// A reader counts as lost only records of the kinds its sink ships (issue 16): log segments a
/// cap deleted are no loss to the remote-write sink, which ships samples only.
@Suite("Spool loss per kind")
struct SpoolLossPerKindTests {
    @Test(
        "segments of log records deleted by max_bytes are not lost samples; lost log lines are counted for a logs reader"
    )
    func lossIsCountedPerKind() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try openSpool(
            directory.path,
            segmentSizeBytes: 4 << 10,
            maxBytes: 16 << 10,
            consumers: ["samples", "logs"]
        )
        var logs: UInt64 = 0
        for index in 0..<60 {
            try spool.append(kind: .logs, payload: CrashPayload.make(index: UInt64(index)))
            logs += 1
        }
        try spool.append(kind: .sample, payload: Array("the only sample".utf8))
        #expect(spool.statistics().segmentsDroppedByCap > 0)

        let samples = try spool.reader(for: "samples").read(maxRecords: 1000, kinds: [.sample])
        #expect(samples.records.map(\.payload) == [Array("the only sample".utf8)])
        #expect(samples.lostRecords == 0, "log records counted as lost samples")

        let lines = try spool.reader(for: "logs").read(maxRecords: 1000, kinds: [.logs])
        #expect(lines.lostRecords > 0)
        #expect(lines.lostRecords + UInt64(lines.records.count) == logs)
    }
}

/// Cursor files are written lazily (issue 13): at most once per `cursorPersistInterval` per
/// consumer, and on close; segments go only behind what the files say.
@Suite("Spool cursors written lazily")
struct SpoolLazyCursorTests {
    private func cursorFile(_ spool: String, _ consumer: String = "test") throws -> UInt64? {
        CursorFile.decode(try readFile(spool + "/cursors/" + consumer + CursorFile.suffix))
    }

    @Test(
        "acknowledgements within the interval write the cursor file once; the next one after it and close write the rest"
    )
    func writtenOncePerInterval() throws {
        let interval = SpoolOptions().cursorPersistInterval
        #expect(interval > .seconds(4))
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/spool"
        var sequences: [UInt64] = []
        let start = ContinuousClock.now
        do {
            let spool = try openSpool(path)
            for index in 0..<10 { sequences.append(try spool.append(kind: .logs, payload: [UInt8(index)])) }
            try spool.acknowledge(consumer: "test", through: sequences[0], now: start)
            #expect(try cursorFile(path) == sequences[0], "the first acknowledgement is written at once")
            for index in 1..<5 {
                try spool.acknowledge(consumer: "test", through: sequences[index], now: start + .seconds(index))
            }
            #expect(spool.cursor(of: "test") == sequences[4], "the cursor itself moves on every acknowledgement")
            #expect(
                try cursorFile(path) == sequences[0],
                "within the interval of the last write, the file is not written"
            )
            try spool.acknowledge(consumer: "test", through: sequences[6], now: start + interval)
            #expect(try cursorFile(path) == sequences[6], "the interval after the last write, it is")
            try spool.acknowledge(consumer: "test", through: sequences[8], now: start + interval + .seconds(1))
            #expect(try cursorFile(path) == sequences[6])
            spool.close()
            #expect(try cursorFile(path) == sequences[8], "close writes what was acknowledged")
        }
        let reopened = try openSpool(path)
        #expect(reopened.cursor(of: "test") == sequences[8])
    }

    @Test("a segment goes only once the cursor file is past it, not the cursor in memory alone")
    func segmentsWaitForTheFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/spool"
        let spool = try openSpool(path, segmentSizeBytes: 4 << 10)
        let start = ContinuousClock.now
        let first = try spool.append(kind: .logs, payload: CrashPayload.make(index: 0))
        try spool.acknowledge(consumer: "test", through: first, now: start)
        var last: UInt64 = first
        for index in 1..<40 { last = try spool.append(kind: .logs, payload: CrashPayload.make(index: UInt64(index))) }
        try spool.append(kind: .sample, payload: [1])
        let files = try segmentFiles(path).count
        #expect(files > 2)
        try spool.acknowledge(consumer: "test", through: last, now: start + .seconds(1))
        #expect(try segmentFiles(path).count == files, "the cursor file still says \(first): nothing is deleted")
        try spool.acknowledge(consumer: "test", through: last + 1, now: start + SpoolOptions().cursorPersistInterval)
        #expect(try cursorFile(path) == last + 1)
        #expect(try segmentFiles(path).count == 1, "once the file is past them, the segments go")
    }
}
