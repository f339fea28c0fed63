import TestSupport
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

@Suite("Spool round trip")
struct SpoolRoundTripTests {
    @Test("appended records read back byte for byte in sequence order")
    func roundTrip() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try openSpool(directory.path, segmentSizeBytes: 16 << 10)
        var sequences: [UInt64] = []
        for index in 0..<200 {
            sequences.append(
                try spool.append(
                    kind: index % 3 == 0 ? .logs : .sample,
                    payload: CrashPayload.make(index: UInt64(index))
                )
            )
        }
        #expect(sequences == Array(1...200))
        #expect(try segmentFiles(directory.path).count > 1)
        let result = try readAll(spool)
        #expect(result.records.map(\.sequence) == sequences)
        for (index, record) in result.records.enumerated() {
            #expect(record.payload == CrashPayload.make(index: UInt64(index)))
            #expect(record.kind == (index % 3 == 0 ? .logs : .sample))
        }
        #expect(result.lostRecords == 0 && result.corruptRegions.isEmpty)
    }

    @Test("a reader given kinds skips the others but still advances past them")
    func kindFilter() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try openSpool(directory.path)
        for index in 0..<10 {
            try spool.append(kind: index.isMultiple(of: 2) ? .sample : .logs, payload: [UInt8(index)])
        }
        let result = try spool.reader(for: "test").read(maxRecords: 100, kinds: [.logs])
        #expect(result.records.map(\.sequence) == [2, 4, 6, 8, 10])
        #expect(result.throughSequence == 10)
        #expect(result.lostRecords == 0)
    }

    @Test("reopening continues the sequence and restores the head from the tail")
    func reopenRestoresHead() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let spool = try openSpool(directory.path, segmentSizeBytes: 4 << 10)
            for index in 0..<50 { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
            try spool.append(kind: .logs, payload: Array("last log".utf8))
            spool.close()
        }
        let spool = try openSpool(directory.path, segmentSizeBytes: 4 << 10)
        #expect(spool.recovery.isClean)
        #expect(spool.latest(.sample)?.payload == CrashPayload.make(index: 49))
        #expect(spool.latest(.sample)?.sequence == 50)
        #expect(spool.latest(.logs)?.payload == Array("last log".utf8))
        #expect(try spool.append(kind: .sample, payload: [1]) == 52)
    }

    @Test("the head of a fresh spool is empty and the first sequence is 1")
    func freshSpool() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try openSpool(directory.path)
        #expect(spool.latest(.sample) == nil)
        #expect(spool.statistics().lastSequence == 0)
        #expect(try spool.append(kind: .sample, payload: []) == 1)
        #expect(spool.latest(.sample)?.payload == [])
    }

    @Test("a second process cannot open a spool that is already open")
    func exclusiveLock() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try openSpool(directory.path)
        #expect(throws: SpoolError.self) { try openSpool(directory.path) }
        spool.close()
        _ = try openSpool(directory.path)
    }

    @Test("cursors persist across reopen and each consumer reads at its own pace")
    func cursorsPersist() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let spool = try openSpool(directory.path, consumers: ["fast", "slow"])
            for index in 0..<20 { try spool.append(kind: .sample, payload: [UInt8(index)]) }
            let fast = try spool.reader(for: "fast").read(maxRecords: 15)
            try spool.acknowledge(consumer: "fast", through: fast.throughSequence)
            let slow = try spool.reader(for: "slow").read(maxRecords: 5)
            try spool.acknowledge(consumer: "slow", through: slow.throughSequence)
            spool.close()
        }
        let spool = try openSpool(directory.path, consumers: ["fast", "slow"])
        #expect(spool.cursor(of: "fast") == 15)
        #expect(spool.cursor(of: "slow") == 5)
        #expect(try readAll(spool, consumer: "fast").records.map(\.sequence) == Array(16...20))
        #expect(try readAll(spool, consumer: "slow").records.map(\.sequence) == Array(6...20))
        #expect(spool.statistics().consumers["slow"]?.lagRecords == 15)
    }

    @Test("a new consumer starts at the oldest record still in the spool")
    func newConsumerStartsAtOldest() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let spool = try openSpool(directory.path, consumers: ["a"])
            for index in 0..<10 { try spool.append(kind: .sample, payload: [UInt8(index)]) }
            spool.close()
        }
        let spool = try openSpool(directory.path, consumers: ["a", "b"])
        let result = try readAll(spool, consumer: "b")
        #expect(result.records.map(\.sequence) == Array(1...10))
        #expect(result.lostRecords == 0)
    }

    @Test("a segment is deleted only once every consumer has acknowledged past it")
    func retentionWaitsForEveryConsumer() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try openSpool(directory.path, segmentSizeBytes: 4 << 10, consumers: ["a", "b"])
        for index in 0..<100 { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
        let before = try segmentFiles(directory.path).count
        #expect(before > 3)
        try spool.acknowledge(consumer: "a", through: 100)
        #expect(try segmentFiles(directory.path).count == before)
        try spool.acknowledge(consumer: "b", through: 100)
        #expect(try segmentFiles(directory.path).count == 1)
        #expect(try readAll(spool, consumer: "b").records.isEmpty)
        #expect(try spool.append(kind: .sample, payload: [1]) == 101)
    }

    @Test("max_bytes drops the oldest segments first and the consumer behind counts the loss")
    func maxBytesCap() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let spool = try openSpool(directory.path, segmentSizeBytes: 8 << 10, maxBytes: 32 << 10, consumers: ["behind"])
        for index in 0..<400 { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
        let statistics = spool.statistics()
        #expect(statistics.totalBytes <= 32 << 10)
        #expect(statistics.segmentsDroppedByCap > 0)
        let result = try readAll(spool, consumer: "behind")
        let first = try #require(result.records.first?.sequence)
        #expect(first > 1)
        #expect(result.lostRecords == first - 1)
        #expect(result.records.last?.sequence == 400)
        #expect(spool.statistics().consumers["behind"]?.lostRecords == first - 1)
        // What survived is intact.
        for record in result.records { #expect(record.payload == CrashPayload.make(index: record.sequence - 1)) }
    }

    @Test("max_age_hours deletes closed segments last written before the cap and counts the loss")
    func maxAgeCap() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let spool = try openSpool(directory.path, segmentSizeBytes: 4 << 10, consumers: ["behind"])
            for index in 0..<60 { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
            spool.close()
        }
        let segments = try segmentFiles(directory.path)
        #expect(segments.count >= 3)
        // Age the first two segments to 200 hours.
        let old = time(nil) - 200 * 3600
        for path in segments.prefix(2) {
            var times = [timeval(tv_sec: old, tv_usec: 0), timeval(tv_sec: old, tv_usec: 0)]
            #expect(utimes(path, &times) == 0)
        }
        let keptFirst = try frames(of: segments[2]).first!.sequence
        let spool = try Spool(
            directory: directory.path,
            options: SpoolOptions(maxAge: .seconds(168 * 3600), segmentSizeBytes: 4 << 10, fsync: .never),
            consumers: ["behind"],
            logger: quietLogger
        )
        try spool.append(kind: .sample, payload: CrashPayload.make(index: 60))
        #expect(try segmentFiles(directory.path).count == segments.count - 2)
        let result = try readAll(spool, consumer: "behind")
        #expect(result.records.first?.sequence == keptFirst)
        #expect(result.lostRecords == keptFirst - 1)
        #expect(spool.statistics().segmentsDroppedByCap == 2)
    }

    @Test("fsync policies batch and interval write the same readable data")
    func fsyncPolicies() throws {
        for policy in FsyncPolicy.allCases {
            let directory = TemporaryDirectory()
            defer { directory.remove() }
            do {
                let spool = try openSpool(directory.path, fsync: policy)
                for index in 0..<20 {
                    try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index)))
                }
                spool.close()
            }
            let spool = try openSpool(directory.path, fsync: policy)
            #expect(try readAll(spool).records.count == 20, "policy \(policy)")
        }
    }

    @Test("spool verify reports a healthy spool as healthy and a damaged one as damaged")
    func verifier() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        do {
            let spool = try openSpool(directory.path, segmentSizeBytes: 4 << 10)
            for index in 0..<30 { try spool.append(kind: .sample, payload: CrashPayload.make(index: UInt64(index))) }
            spool.close()
        }
        let healthy = try SpoolVerifier.verify(directory: directory.path)
        #expect(healthy.isHealthy)
        #expect(healthy.frameCount == 30)
        let first = try #require(try segmentFiles(directory.path).first)
        var bytes = try readFile(first)
        bytes[40] ^= 0x10
        try writeFile(first, bytes)
        let damaged = try SpoolVerifier.verify(directory: directory.path)
        #expect(!damaged.isHealthy)
        #expect(damaged.segments[0].corruptRegions.count == 1)
    }
}
