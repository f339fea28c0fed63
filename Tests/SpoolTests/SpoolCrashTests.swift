import TestSupport
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// A child process appends as fast as it can and is killed with SIGKILL at random moments.
/// After each kill, every append it reported as returned must read back intact.
@Suite("Spool crash", .serialized)
struct SpoolCrashTests {
    private static let writerPath = BuiltProducts.path(of: "SpoolCrashWriter")

    @Test("kill -9 at random moments loses no returned append, 60 cycles")
    func killNineCycles() throws {
        #expect(access(Self.writerPath, X_OK) == 0, "writer not built at \(Self.writerPath)")
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var generator = SystemRandomNumberGenerator()
        var returned: [UInt64: UInt64] = [:]  // sequence -> payload index
        var nextIndex: UInt64 = 1
        var killsWithTornTail = 0
        for cycle in 0..<60 {
            let policy: FsyncPolicy = [.never, .batch, .interval][cycle % 3]
            let child = try ChildProcess(Self.writerPath, [directory.path, policy.rawValue, String(nextIndex)])
            // Let it run for a random number of reported appends (sometimes none), then kill it
            // at a random point inside its loop.
            let target = Int.random(in: 0...(policy == .batch ? 30 : 150), using: &generator)
            var lines = try child.readLines(atLeast: target, deadline: .now + .seconds(60))
            for _ in 0..<Int.random(in: 0...20_000, using: &generator) { _ = generator.next() }
            child.kill()
            lines += try child.readRemainingLines()
            let status = child.wait()
            #expect(status == 128 + SIGKILL, "writer exited with \(status) in cycle \(cycle)")
            for line in lines {
                let fields = line.split(separator: " ")
                try #require(fields.count == 2, "unexpected writer output: \(line)")
                let sequence = try #require(UInt64(fields[0]))
                let index = try #require(UInt64(fields[1]))
                returned[sequence] = index
                nextIndex = max(nextIndex, index + 1)
            }

            let spool = try openSpool(directory.path, segmentSizeBytes: 64 << 10, consumers: ["verify-\(cycle)"])
            if spool.recovery.truncatedBytes > 0 { killsWithTornTail += 1 }
            #expect(spool.recovery.corruptRegions.isEmpty, "cycle \(cycle): \(spool.recovery.corruptRegions)")
            let result = try readAll(spool, consumer: "verify-\(cycle)")
            #expect(result.corruptRegions.isEmpty, "cycle \(cycle)")
            let sequences = result.records.map(\.sequence)
            #expect(zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 }, "cycle \(cycle): not increasing")
            var byIndex: [UInt64: [UInt8]] = [:]
            for record in result.records { byIndex[record.sequence] = record.payload }
            for (sequence, index) in returned {
                let payload = byIndex[sequence]
                #expect(
                    payload == CrashPayload.make(index: index),
                    "cycle \(cycle): sequence \(sequence) missing or damaged"
                )
            }
            // Records the writer appended but had not yet reported are fine; anything else is not.
            for record in result.records where returned[record.sequence] == nil {
                let index = UInt64(littleEndian: record.payload.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                #expect(record.payload == CrashPayload.make(index: index), "cycle \(cycle): unreported record damaged")
                returned[record.sequence] = index
                nextIndex = max(nextIndex, index + 1)
            }
            spool.close()
        }
        #expect(returned.count > 60)
        print("crash test: \(returned.count) records checked, \(killsWithTornTail) kills left a torn tail")
    }
}
