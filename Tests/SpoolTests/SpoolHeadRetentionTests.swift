import TestSupport
import Testing

@testable import Spool

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
