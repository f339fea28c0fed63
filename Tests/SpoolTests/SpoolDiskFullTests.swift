import TestSupport
import Testing

@testable import Spool

#if canImport(Glibc)
import Glibc
#endif

/// A real ENOSPC from a small tmpfs: appends fail and are counted, the spool keeps working, and
/// appends resume once space is freed. Needs root to mount (CI runs as root).
@Suite("Spool disk full", .serialized)
struct SpoolDiskFullTests {
    @Test("a full disk drops and counts appends, then appending resumes when space returns")
    func diskFull() throws {
        let mountPoint = TemporaryDirectory(prefix: "rw-tmpfs")
        defer { mountPoint.remove() }
        try #require(getuid() == 0, "the disk-full test mounts a tmpfs and must run as root")
        try #require(
            run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint.path]) == 0,
            "mount failed"
        )
        defer { run("/bin/umount", ["-l", mountPoint.path]) }
        let ballast = mountPoint.path + "/ballast"
        try writeFile(ballast, [UInt8](repeating: 0xAB, count: 256 << 10))
        let directory = mountPoint.path + "/spool"

        let spool = try openSpool(directory, segmentSizeBytes: 128 << 10, maxBytes: 64 << 20, fsync: .batch)
        var appended: [UInt64: UInt64] = [:]  // sequence -> payload index
        var index: UInt64 = 0
        var firstFailure: SpoolError?
        // Incompressible payloads fill the 1 MiB file system quickly.
        while firstFailure == nil && index < 10_000 {
            index += 1
            do throws(SpoolError) {
                appended[try spool.append(kind: .sample, payload: noise(index: index))] = index
            } catch {
                firstFailure = error
            }
        }
        let failure = try #require(firstFailure)
        #expect(failure.code == .diskFull)
        #expect(appended.count > 10)
        // Still full: every further append is dropped and counted, and the process carries on.
        for _ in 0..<10 {
            index += 1
            #expect(throws: SpoolError.self) { try spool.append(kind: .sample, payload: noise(index: index)) }
        }
        #expect(spool.statistics().droppedAppends["disk_full"] == 11)

        try FileIO.remove(ballast)
        var resumed = 0
        for _ in 0..<10 {
            index += 1
            appended[try spool.append(kind: .sample, payload: noise(index: index))] = index
            resumed += 1
        }
        #expect(resumed == 10)
        #expect(spool.statistics().droppedAppends["disk_full"] == 11)

        // Everything that was acknowledged as appended reads back, in order, with no damage,
        // from the live spool and after reopening.
        for reopen in [false, true] {
            let reader =
                reopen
                ? try {
                    spool.close()
                    return try openSpool(directory, segmentSizeBytes: 128 << 10)
                }() : spool
            if reopen { #expect(reader.recovery.isClean, "\(reader.recovery)") }
            let result = try readAll(reader)
            #expect(result.corruptRegions.isEmpty)
            #expect(result.lostRecords == 0)
            #expect(result.records.map(\.sequence) == appended.keys.sorted())
            for record in result.records { #expect(record.payload == noise(index: appended[record.sequence]!)) }
        }
    }

    private func noise(index: UInt64) -> [UInt8] {
        var state = index &* 0x2545_F491_4F6C_DD1D | 1
        return (0..<(16 << 10)).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }
}
