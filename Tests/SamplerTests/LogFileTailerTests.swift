import Logging
import Spool
import SwiftProtobuf
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

private let quietLogger = Logger.quiet("log-tail-test")

/// Real files in a temporary directory; each test drives the tailer tick by tick (read, then
/// commit, as the sampler does after a successful append).
@Suite("Log file tailer")
struct LogFileTailerTests {
    /// A temporary directory with `app.log` in it and the positions file beside it.
    private struct Files {
        let directory = TemporaryDirectory(prefix: "rw-tail")
        var log: String { directory.path + "/app.log" }
        var positions: String { directory.path + "/tail-positions.json" }

        func tailer(paths: [String]? = nil, limits: LogReadLimits = .init()) throws -> LogFileTailer {
            let sources = (paths ?? [log]).map {
                LogFileTailer.Source(path: $0, component: "api", clientID: "tenant-a")
            }
            let tailer = LogFileTailer(sources: sources, positionsPath: positions, limits: limits, logger: quietLogger)
            return try #require(tailer)
        }
    }

    private func append(_ text: String, to path: String) { append(bytes: Array(text.utf8), to: path) }

    private func append(bytes: [UInt8], to path: String) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        #expect(descriptor >= 0, "open \(path)")
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { bytes.isEmpty ? 0 : write(descriptor, $0.baseAddress, $0.count) }
        #expect(written == bytes.count)
    }

    /// A tailer on an empty `app.log`, past its first tick (so it reads from offset 0 on).
    private func watchingEmptyLog(_ files: Files, limits: LogReadLimits = .init()) throws -> LogFileTailer {
        append("", to: files.log)
        let tailer = try files.tailer(limits: limits)
        #expect(tick(tailer) == [])
        return tailer
    }

    /// One tick whose append succeeded: read, then commit.
    private func tick(_ tailer: LogFileTailer) -> [String] {
        let read = tailer.read()
        tailer.commit(read)
        return read.records.map(\.message)
    }

    @Test("appended lines are read once and in order")
    func appendedLinesReadOnceInOrder() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("one\ntwo\n", to: files.log)
        append("three\n", to: files.log)
        #expect(tick(tailer) == ["one", "two", "three"])
        #expect(tick(tailer) == [])
        append("four\n", to: files.log)
        #expect(tick(tailer) == ["four"])
    }

    @Test("records carry the component, its client, the path, the time read and the guessed level")
    func recordFields() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("2024-05-01 10:00:00 WARN disk almost full\r\n", to: files.log)
        let read = tailer.read(nowUnixNanoseconds: 1_714_557_600_123_456_789)
        let record = try #require(read.records.first)
        #expect(read.records.count == 1 && record.metadata.isEmpty)
        #expect(record.component == "api" && record.clientID == "tenant-a" && record.source == files.log)
        #expect(record.timestampUnixNs == 1_714_557_600_123_456_789 && record.level == .warning)
        #expect(record.message == "2024-05-01 10:00:00 WARN disk almost full")
    }

    @Test("a partial last line is held until its newline arrives")
    func partialLineHeld() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("par", to: files.log)
        #expect(tick(tailer) == [])
        append("tial\nnext", to: files.log)
        #expect(tick(tailer) == ["partial"])
        append("\n", to: files.log)
        #expect(tick(tailer) == ["next"])
    }

    @Test("a new tailer on the same positions file resumes: nothing lost, nothing repeated")
    func positionSurvivesRestart() throws {
        let files = Files()
        defer { files.directory.remove() }
        do {
            let first = try watchingEmptyLog(files)
            append("a\nb\n", to: files.log)
            #expect(tick(first) == ["a", "b"])
        }
        append("c\nd\n", to: files.log)
        #expect(tick(try files.tailer()) == ["c", "d"])
        #expect(tick(try files.tailer()) == [])
    }

    @Test("lines read but never committed (a failed append, a crash) are read again")
    func uncommittedLinesReadAgain() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("a\nb\n", to: files.log)
        #expect(tailer.read().records.map(\.message) == ["a", "b"])
        #expect(tailer.read().records.map(\.message) == ["a", "b"])
        #expect(tick(try files.tailer()) == ["a", "b"])
    }

    @Test("after a rename rotation the rest of the old file (partial line and all) is read, then all of the new one")
    func renameRotation() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("1\n", to: files.log)
        #expect(tick(tailer) == ["1"])
        append("2\n3\n", to: files.log)
        #expect(rename(files.log, files.log + ".1") == 0)
        append("4 written late by the old descriptor", to: files.log + ".1")
        append("5\n6\n", to: files.log)
        #expect(tick(tailer) == ["2", "3", "4 written late by the old descriptor", "5", "6"])
        append("7\n", to: files.log)
        #expect(tick(tailer) == ["7"])
    }

    @Test("a deleted file is read to its end, and the file created at its path later from its start")
    func deletedThenRecreated() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("last words\n", to: files.log)
        #expect(unlink(files.log) == 0)
        #expect(tick(tailer) == ["last words"])
        #expect(tick(tailer) == [])
        append("reborn\n", to: files.log)
        #expect(tick(tailer) == ["reborn"])
    }

    @Test("truncation restarts at the start: shorter than the position, or grown back with other first bytes")
    func truncationRestarts() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("first line\nsecond line\n", to: files.log)
        #expect(tick(tailer) == ["first line", "second line"])
        #expect(truncate(files.log, 0) == 0)
        append("x\n", to: files.log)
        #expect(tick(tailer) == ["x"])
        // copytruncate, and the file grew past the old position before the next look
        #expect(truncate(files.log, 0) == 0)
        append("y-1 longer than before\ny-2\n", to: files.log)
        #expect(tick(tailer) == ["y-1 longer than before", "y-2"])
    }

    @Test("a file seen for the first time starts at its end; one missing at first is read from its start")
    func firstSight() throws {
        let files = Files()
        defer { files.directory.remove() }
        let later = files.directory.path + "/later.log"
        append("history\n", to: files.log)
        let tailer = try files.tailer(paths: [files.log, later])
        #expect(tick(tailer) == [])
        append("news\n", to: files.log)
        append("created after the first look\n", to: later)
        #expect(tick(tailer) == ["news", "created after the first look"])
    }

    @Test("a line longer than 256 KiB is cut on a character boundary, with truncated and original_length")
    func longLineCut() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        // "x" then two-byte characters: byte 262144 falls inside one, so the cut backs off by one.
        let long = "x" + String(repeating: "é", count: 150_000)
        append(long + "\nshort\n", to: files.log)
        let records = tailer.read().records
        #expect(records.map(\.message.utf8.count) == [262_143, 5] && records.last?.metadata == [:])
        #expect(records.first.map { long.hasPrefix($0.message) } == true)
        #expect(records.first?.metadata == ["truncated": "true", "original_length": "300001"])
    }

    @Test("an over-long partial line is flushed cut, and its rest is dropped through its newline")
    func longPartialLineFlushed() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files, limits: .init(maxLineBytes: 8))
        append("abcdefghijkl", to: files.log)
        let read = tailer.read()
        tailer.commit(read)
        #expect(read.records.map(\.message) == ["abcdefgh"])
        #expect(read.records.first?.metadata == ["truncated": "true", "original_length": "12"])
        append("mno\nnext\n", to: files.log)
        #expect(tick(tailer) == ["next"])
    }

    @Test("per-tick bounds on lines and bytes leave the rest for the next tick")
    func perTickBounds() throws {
        let files = Files()
        defer { files.directory.remove() }
        let byLines = try watchingEmptyLog(files, limits: .init(maxLinesPerSource: 3))
        append("1\n2\n3\n4\n5\n", to: files.log)
        #expect(tick(byLines) == ["1", "2", "3"])
        #expect(tick(byLines) == ["4", "5"])
        let other = Files()  // positions of its own: a second tailer on the same log
        defer { other.directory.remove() }
        let byBytes = try other.tailer(paths: [files.log], limits: .init(maxBytesPerSource: 10))
        _ = tick(byBytes)
        append("aaa\nbbb\nccc\n", to: files.log)
        #expect(tick(byBytes) == ["aaa", "bbb"])
        #expect(tick(byBytes) == ["ccc"])
    }

    @Test("invalid UTF-8 is repaired")
    func invalidUTF8Repaired() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append(bytes: [0x41, 0xFF, 0x42, 0xC3, 0x0A], to: files.log)
        #expect(tick(tailer) == ["A\u{FFFD}B\u{FFFD}"])
    }

    @Test("the positions file keeps full 64-bit device, inode and fingerprint")
    func positionsRoundTrip() throws {
        let files = Files()
        defer { files.directory.remove() }
        var position = TailPosition(file: FileIdentity(device: .max, inode: .max - 1), offset: 1 << 40)
        (position.headLength, position.headHash, position.discarding) = (64, .max, true)
        try TailPositionsFile.save(["/var/log/a.log": position], to: files.positions)
        #expect(try TailPositionsFile.load(from: files.positions) == ["/var/log/a.log": position])
    }

    @Test(
        "the level is guessed from the line",
        arguments: [
            (#"{"level":"error","msg":"boom"}"#, ResourceWatcher_V1_LogLevel.error),
            (#"{"msg":"x", "level": "Warning"}"#, .warning),
            (#"{"level":50,"msg":"pino"}"#, .error),
            (#"{"severity":"DEBUG"}"#, .debug),
            ("2024-05-01T10:00:00Z ERROR db: timeout", .error),
            ("[WARN] disk almost full", .warning),
            ("2024/05/01 10:00:00 [error] 12#0: open() failed", .error),
            (#"ts=2024-05-01 level=debug msg="cache miss""#, .debug),
            ("INFO:root:started", .info),
            ("FATAL: out of memory", .critical),
            ("CRITICAL the sky fell", .critical),
            ("ERR connection refused", .error),
            ("TRACE enter handler", .trace),
            ("I 2024-05-01 NOTICE: checkpoint", .notice),
            ("informational errors are not words we know", .info),
            ("just a plain line", .info),
            ("", .info),
            (String(repeating: "x ", count: 60) + "ERROR far too late", .info),
        ]
    )
    func levelGuess(line: String, level: ResourceWatcher_V1_LogLevel) {
        #expect(LogLevelGuess.level(of: line) == level)
    }

    @Test("tail positions advance only when the log batch was appended to the spool")
    func positionsFollowSpoolAppends() throws {
        let files = Files()
        defer { files.directory.remove() }
        append("", to: files.log)
        let component = ComponentConfig(name: "api", clientID: "tenant-a", processName: "api", logFiles: [files.log])
        let spoolDirectory = files.directory.path + "/spool"
        let spool = try Spool(directory: spoolDirectory, options: SpoolOptions(fsync: .never), logger: quietLogger)
        func makeTailer() throws -> LogFileTailer {
            try #require(LogFileTailer(components: [component], spoolDirectory: spoolDirectory, logger: quietLogger))
        }
        let tailer = try makeTailer()
        #expect(SamplerService.appendLogs([], tailer: tailer, agentID: "agent", at: 1, to: spool))
        append("shipped\n", to: files.log)
        #expect(SamplerService.appendLogs([], tailer: tailer, agentID: "agent", at: 2, to: spool))
        let batch = try ResourceWatcher_V1_Batch(serializedBytes: try #require(spool.latest(.logs)).payload)
        #expect(batch.logs.map(\.message) == ["shipped"])
        spool.close()
        append("not yet shipped\n", to: files.log)
        #expect(!SamplerService.appendLogs([], tailer: tailer, agentID: "agent", at: 3, to: spool))
        #expect(tailer.read().records.map(\.message) == ["not yet shipped"])
        #expect(try makeTailer().read().records.map(\.message) == ["not yet shipped"])
    }

    // MARK: - Edges where a line could be lost (issue 16)

    @Test("a failed first append does not move the starting point: what was written before the next tick is read")
    func failedFirstAppendKeepsTheStartingPoint() throws {
        let files = Files()
        defer { files.directory.remove() }
        append("history\n", to: files.log)
        let tailer = try files.tailer()
        _ = tailer.read()  // the first tick's append fails: no commit
        append("written in between\n", to: files.log)
        #expect(tick(tailer) == ["written in between"])
        // And a restarted agent starts from the same point.
        append("after\n", to: files.log)
        #expect(tick(try files.tailer()) == ["after"])
    }

    @Test("a file that appears after start is read from its start, even when the first append failed")
    func fileAppearingAfterStartIsReadFromItsStart() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try files.tailer()
        _ = tailer.read()  // no file yet; the append fails: no commit
        append("first line of a new file\n", to: files.log)
        #expect(tick(tailer) == ["first line of a new file"])
    }

    @Test("lines read in one tick carry distinct, increasing timestamps (Loki keeps one of identical entries)")
    func distinctTimestampsWithinATick() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("same\nsame\nsame\n", to: files.log)
        let read = tailer.read(nowUnixNanoseconds: 1_000_000_000)
        #expect(read.records.map(\.timestampUnixNs) == [1_000_000_000, 1_000_000_001, 1_000_000_002])
    }

    @Test("two rotations before a commit: the file in between is read whole, nothing skipped")
    func twoRotationsBeforeACommit() throws {
        let files = Files()
        defer { files.directory.remove() }
        let tailer = try watchingEmptyLog(files)
        append("a1\n", to: files.log)
        _ = tailer.read()  // appends fail from here: no commit
        rename(files.log, files.log + ".1")
        append("b1\n", to: files.log)
        _ = tailer.read()
        rename(files.log + ".1", files.log + ".2")
        rename(files.log, files.log + ".1")
        append("c1\n", to: files.log)
        #expect(tick(tailer) == ["a1", "b1", "c1"])
        append("c2\n", to: files.log)
        #expect(tick(tailer) == ["c2"])
    }
}
