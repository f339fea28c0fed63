import Foundation  // JSONDecoder: the positions file as the reader writes it
import HTTPTransport
import Logging
import Spool
import SwiftProtobuf
import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

private let quietLogger = Logger.quiet("container-log-test")

/// Containers on the real test engine (`DockerTestEngine`) that write lines on demand: `docker exec`
/// writes to the container's main process's stdout or stderr (`/proc/1/fd/1`, `/proc/1/fd/2`),
/// which is what the engine logs. Names get a fresh prefix; `stop` removes the containers.
private final class LoggingEngine {
    let engine: DockerTestEngine
    let directory = TemporaryDirectory(prefix: "rw-container-logs")
    let prefix = "rw\(UInt32.random(in: 0...UInt32.max))-"

    init() throws { engine = try DockerTestEngine.shared() }

    var socket: String { engine.socket }
    var positionsPath: String { directory.path + "/" + ContainerLogPositionsFile.fileName }

    /// A client of its own, as the sampler gives the log reader.
    func client() -> DockerClient {
        DockerEngine(socketPath: socket).makeClient(connectTimeout: .seconds(2), requestTimeout: .seconds(10))
    }

    func reader(
        containers: [String] = ["talker"],
        limits: LogReadLimits = .init()
    ) throws
        -> ContainerLogReader
    {
        let sources = containers.map {
            ContainerLogReader.Source(component: $0 + "-app", clientID: "tenant-a", containerName: prefix + $0)
        }
        return try #require(
            ContainerLogReader(
                sources: sources,
                client: client(),
                positionsPath: positionsPath,
                limits: limits,
                logger: quietLogger
            )
        )
    }

    /// Creates (or recreates, with a new ID and an empty log) a running container that first
    /// writes `history` to stdout; its ID once those lines are in its log.
    @discardableResult
    func create(_ name: String, tty: Bool = false, history: [String] = []) async throws -> String {
        _ = try? engine.docker("rm", "-f", prefix + name)
        let script = history.map { "echo '\($0)'; " }.joined() + "exec sleep 100000"
        let id =
            try engine.docker(
                ["run", "-d", "--name", prefix + name, "--network", "none"] + (tty ? ["-t"] : []) + [
                    DockerTestEngine.image, "sh", "-c", script,
                ]
            ).split(separator: "\n").last.map(String.init) ?? ""
        let deadline = ContinuousClock.now + .seconds(20)
        while try engine.docker("logs", prefix + name).split(separator: "\n").count < history.count {
            guard ContinuousClock.now < deadline else {
                throw ChildProcess.Failure(description: "no history in \(name)'s log")
            }
            try await Task.sleep(for: .milliseconds(50))  // the next poll
        }
        return id
    }

    /// Writes each line to the container's stdout or stderr, one `docker exec` each (so each has a
    /// timestamp of its own); `partial` text gets no line end.
    func write(_ name: String, _ lines: [(stream: String, text: String)]) async throws {
        for line in lines {
            let descriptor = line.stream == "stderr" ? 2 : 1
            try engine.docker(
                "exec",
                prefix + name,
                "sh",
                "-c",
                "printf '%s\\n' \"$1\" > /proc/1/fd/\(descriptor)",
                "sh",
                line.text
            )
        }
    }

    /// Writes `text` to the container's stdout without a line end (a line being written).
    func writeWithoutLineEnd(_ name: String, _ text: String) throws {
        try engine.docker("exec", prefix + name, "sh", "-c", "printf '%s' \"$1\" > /proc/1/fd/1", "sh", text)
    }

    func write(_ name: String, _ texts: String...) async throws {
        try await write(name, texts.map { (stream: "stdout", text: $0) })
    }

    func stop() {
        let names =
            (try? engine.docker("ps", "-aq", "--filter", "name=" + prefix))?.split(separator: "\n").map(String.init)
            ?? []
        if !names.isEmpty { _ = try? engine.docker(["rm", "-f"] + names) }
        directory.remove()
    }
}

/// The stand-in engine (Tests/Fixtures/docker_engine_server.py) for what a real engine cannot be
/// made to do: a logs endpoint that stalls. Its test controls create containers and write lines.
private final class StallingEngine {
    let directory = TemporaryDirectory(prefix: "rw-container-logs")
    let process: ChildProcess
    let socket: String
    private let control: CurlTransport

    init() throws {
        socket = directory.path + "/docker.sock"
        process = try ChildProcess("/usr/bin/env", ["python3", Fixtures.path("docker_engine_server.py"), socket])
        #expect(try process.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])
        control = CurlTransport(unixSocketPath: socket, userAgent: "resource-watcher-test", acceptGzip: false)
    }

    func reader() throws -> ContainerLogReader {
        try #require(
            ContainerLogReader(
                sources: [.init(component: "talker-app", clientID: "tenant-a", containerName: "talker")],
                client: DockerEngine(socketPath: socket).makeClient(
                    connectTimeout: .seconds(2),
                    requestTimeout: .seconds(10)
                ),
                positionsPath: directory.path + "/" + ContainerLogPositionsFile.fileName,
                logger: quietLogger
            )
        )
    }

    func create(_ name: String) async throws {
        _ = try await post("/test/containers", #"{"name": "\#(name)", "tty": false}"#)
    }

    func write(_ name: String, _ text: String) async throws {
        _ = try await post(
            "/test/containers/\(name)/logs",
            #"{"lines": [{"stream": "stdout", "text": "\#(text)", "partial": false}]}"#
        )
    }

    /// Writes `lines` (the stand-in's JSON line objects) to `name`'s log; returns the stamp of
    /// the last line written in time order.
    func writeLines(_ name: String, _ lines: [String]) async throws -> Int64 {
        let answer = try await post("/test/containers/\(name)/logs", #"{"lines": [\#(lines.joined(separator: ","))]}"#)
        let digits = answer.split { !$0.isNumber }.first.map(String.init) ?? ""
        return try #require(Int64(digits), "stand-in answered \(answer)")
    }

    /// The logs of `name` answer only once `stallLogs(of: nil)` is called (or after 30 s).
    func stallLogs(of name: String?) async throws {
        _ = try await post("/test/stall-logs", name.map { #"{"name": "\#($0)"}"# } ?? #"{"name": null}"#)
    }

    private func post(_ path: String, _ json: String) async throws -> String {
        let response = try await control.send(
            HTTPRequest(
                method: .post,
                url: "http://localhost" + path,
                headers: [("Content-Type", "application/json")],
                body: Array(json.utf8)
            )
        )
        #expect(response.status == 200, "\(path): \(String(decoding: response.body, as: UTF8.self))")
        return String(decoding: response.body, as: UTF8.self)
    }

    func stop() {
        process.kill()
        process.wait()
        directory.remove()
    }
}

/// One tick whose append succeeded: read, then commit.
private func tick(
    _ reader: ContainerLogReader,
    timeout: Duration = .seconds(10)
) async -> [ResourceWatcher_V1_LogRecord] {
    let read = await reader.read(timeout: timeout)
    reader.commit(read)
    return read.records
}

/// Ticks until `count` records came (or the deadline passed), then one more tick that must bring
/// nothing: the lines written so far arrive exactly once.
private func ticks(
    _ reader: ContainerLogReader,
    until count: Int,
    deadline: Duration = .seconds(20)
) async -> [ResourceWatcher_V1_LogRecord] {
    let end = ContinuousClock.now + deadline
    var records: [ResourceWatcher_V1_LogRecord] = []
    while records.count < count, ContinuousClock.now < end {
        records += await tick(reader)
    }
    records += await tick(reader)
    return records
}

/// Container logs against a real Docker engine (`DockerTestEngine`); the stand-in only for a stall.
@Suite("Container logs", .serialized)
struct ContainerLogTests {
    @Test("lines arrive once and in order across ticks, stdout and stderr each with its stream")
    func linesOnceInOrderWithStreams() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        let id = try await engine.create("talker")
        let reader = try engine.reader()
        #expect(await tick(reader).isEmpty, "first sight starts at now")
        try await engine.write("talker", [("stdout", "one"), ("stderr", "ERROR two"), ("stdout", "three")])
        let first = await ticks(reader, until: 3)
        #expect(first.map(\.message) == ["one", "ERROR two", "three"])
        #expect(first.map { $0.metadata["stream"] } == ["stdout", "stderr", "stdout"])
        #expect(first.allSatisfy { $0.metadata["container_id"] == id })
        #expect(first.allSatisfy { $0.source == "container" && $0.component == "talker-app" })
        #expect(first.allSatisfy { $0.clientID == "tenant-a" })
        #expect(first.map(\.level) == [.info, .error, .info])
        let stamps = first.map(\.timestampUnixNs)
        #expect(zip(stamps, stamps.dropFirst()).allSatisfy { $0 < $1 }, "the engine's stamps, in order")
        #expect(abs(stamps[0] - LogFileIO.nowUnixNanoseconds()) < 60_000_000_000, "stamped by the engine, recently")

        try await engine.write("talker", "four")
        try await engine.write("talker", [("stderr", "five")])
        #expect(await ticks(reader, until: 2).map(\.message) == ["four", "five"])
        #expect(await tick(reader).isEmpty)
    }

    @Test(
        "a discovered container's lines are read like a configured one's, within the same per-tick limit; no engine call without one"
    )
    func discoveredContainerLinesAreRead() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("found", history: ["before discovery"])
        let reader = try #require(
            ContainerLogReader(
                components: [],
                spoolDirectory: engine.directory.path,
                client: engine.client(),
                limits: LogReadLimits(maxLinesPerSource: 2),
                discoversContainers: true,
                logger: quietLogger
            )
        )
        let discovered = [
            ContainerLogReader.Source(component: "qdrant", clientID: "tenant-a", containerName: engine.prefix + "found")
        ]
        func tick() async -> [ResourceWatcher_V1_LogRecord] {
            let read = await reader.read(timeout: .seconds(10), discovered: discovered)
            reader.commit(read)
            return read.records
        }
        #expect(await reader.read(timeout: .seconds(10)).records.isEmpty, "nothing discovered: nothing read")
        #expect(await tick().isEmpty, "first sight starts at now")
        try await engine.write("found", [("stdout", "a"), ("stdout", "b"), ("stderr", "c")])
        var records: [ResourceWatcher_V1_LogRecord] = []
        var perTick: [Int] = []
        let end = ContinuousClock.now + .seconds(20)
        while records.count < 3, ContinuousClock.now < end {
            let got = await tick()
            perTick.append(got.count)
            records += got
        }
        #expect(records.map(\.message) == ["a", "b", "c"])
        #expect(perTick.allSatisfy { $0 <= 2 }, "at most the per-tick line limit: \(perTick)")
        #expect(records.allSatisfy { $0.component == "qdrant" && $0.source == "container" })
    }

    @Test("a container seen for the first time starts at now: its history is not shipped")
    func firstSightStartsAtNow() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("web", history: ["old 1", "old 2", "old 3"])
        let reader = try engine.reader(containers: ["web"])
        #expect(await tick(reader).isEmpty)
        #expect(await tick(reader).isEmpty)
        try await engine.write("web", "fresh")
        #expect(await ticks(reader, until: 1).map(\.message) == ["fresh"])
    }

    @Test("a restart from saved positions repeats nothing that was committed and loses nothing that was not")
    func restartFromSavedPositions() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let reader = try engine.reader()
        #expect(await tick(reader).isEmpty)
        try await engine.write("talker", "a", "b")
        #expect(await ticks(reader, until: 2).map(\.message) == ["a", "b"])
        try await engine.write("talker", "c")
        // Read but never appended (the agent stopped first): not committed.
        #expect(await reader.read(timeout: .seconds(10)).records.map(\.message) == ["c"])
        try await engine.write("talker", "d")

        let restarted = try engine.reader()
        #expect(await ticks(restarted, until: 2).map(\.message) == ["c", "d"])
        let again = try engine.reader()
        #expect(await tick(again).isEmpty)
        try await engine.write("talker", "e")
        #expect(await ticks(again, until: 1).map(\.message) == ["e"])
    }

    @Test("a recreated container (new ID) is read from its start; one absent at the first look too")
    func recreatedAndLateContainersFromTheirStart() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let reader = try engine.reader(containers: ["talker", "late"])
        #expect(await tick(reader).isEmpty)
        try await engine.write("talker", "old life")
        #expect(await ticks(reader, until: 1).map(\.message) == ["old life"])

        let newID = try await engine.create("talker")
        try await engine.write("talker", "new life 1", "new life 2")
        let lateID = try await engine.create("late")
        try await engine.write("late", "born late")
        let records = await ticks(reader, until: 3)
        #expect(records.map(\.message) == ["new life 1", "new life 2", "born late"])
        #expect(records.map { $0.metadata["container_id"] } == [newID, newID, lateID])
    }

    @Test("a TTY container's raw stream is read too, without its carriage returns")
    func ttyContainer() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("console", tty: true)
        let reader = try engine.reader(containers: ["console"])
        #expect(await tick(reader).isEmpty)
        try await engine.write("console", [("stdout", "prompt$ ls"), ("stderr", "WARN no such file")])
        let records = await ticks(reader, until: 2)
        #expect(records.map(\.message) == ["prompt$ ls", "WARN no such file"])
        #expect(records.map(\.level) == [.info, .warning])
        #expect(records.allSatisfy { $0.metadata["stream"] == "stdout" }, "a TTY merges both streams")
    }

    @Test("a stalled logs endpoint does not hold the read past its timeout; the lines come on a later tick")
    func stalledEndpointIsCutOff() async throws {
        let engine = try StallingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let reader = try engine.reader()
        #expect(await tick(reader).isEmpty)
        try await engine.write("talker", "delayed")
        try await engine.stallLogs(of: "talker")
        let start = ContinuousClock.now
        let stalled = await tick(reader, timeout: .milliseconds(500))
        #expect(ContinuousClock.now - start < .seconds(3), "the read waited \(ContinuousClock.now - start)")
        #expect(stalled.isEmpty)
        try await engine.stallLogs(of: nil)
        #expect(await ticks(reader, until: 1).map(\.message) == ["delayed"])
    }

    @Test(
        "a stdout line stamped just before an already shipped stderr line arrives: each stream keeps its own position"
    )
    func streamsLandingOutOfOrder() async throws {
        let engine = try StallingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let reader = try engine.reader()
        // One tick: read at `now`, then commit.
        func tick(at now: Int64) async -> [ResourceWatcher_V1_LogRecord] {
            let read = await reader.read(timeout: .seconds(10), nowUnixNanoseconds: now)
            reader.commit(read)
            return read.records
        }
        #expect(await tick(at: LogFileIO.nowUnixNanoseconds()).isEmpty)
        let stderrStamp = try await engine.writeLines("talker", [#"{"stream": "stderr", "text": "E1"}"#])
        #expect(await tick(at: stderrStamp + 1_000_000).map(\.message) == ["E1"])
        // The engine copies the streams separately: a stdout line stamped 1 ms before E1 is
        // written to the log only now, after it, and a stderr line after that.
        let last = try await engine.writeLines(
            "talker",
            [
                #"{"stream": "stdout", "text": "O1", "stamped_before_last_ns": 1000000}"#,
                #"{"stream": "stderr", "text": "E2"}"#,
            ]
        )
        let records = await tick(at: last + 1_000_000)
        #expect(records.map(\.message) == ["O1", "E2"])
        #expect(records.map { $0.metadata["stream"] } == ["stdout", "stderr"])
        #expect(await tick(at: last + 2_000_000).isEmpty, "each line once")
        // A stream without lines moves up to the lookback before the read, so requests do not
        // keep asking from its old mark.
        let quietAt = last + 10_000_000_000
        let quiet = await reader.read(timeout: .seconds(10), nowUnixNanoseconds: quietAt)
        reader.commit(quiet)
        #expect(quiet.records.isEmpty)
        let mark = try #require(quiet.positions["talker-app"])
        let expectedMark = quietAt - ContainerLogReader.streamReorderLookbackNanoseconds
        #expect(mark.stdout.through == expectedMark && mark.stderr.through == expectedMark, "\(mark)")
    }

    @Test("a container log position from before the streams had marks of their own reads as both at its mark")
    func oldPositionFile() throws {
        let old = #"{"container_id": "c1", "shipped_through_unix_ns": "1714557600123456789", "shipped_at_through": 12}"#
        let position = try JSONDecoder().decode(ContainerLogPosition.self, from: Data(old.utf8))
        #expect(position.stdout == .init(through: 1_714_557_600_123_456_789, atThrough: 12))
        #expect(position.stderr == position.stdout)
        let legacy = #"{"container_id": "c1", "shipped_through_unix_ns": "5"}"#
        #expect(
            try JSONDecoder().decode(ContainerLogPosition.self, from: Data(legacy.utf8)).stderr.atThrough == Int.max
        )
        // Written and read back, the marks stay apart.
        var moved = position
        moved.stderr = .init(through: 1_714_557_600_000_000_000, atThrough: 3)
        let again = try JSONDecoder().decode(ContainerLogPosition.self, from: try JSONEncoder().encode(moved))
        #expect(again == moved)
    }

    @Test("each tick takes at most the line limit, cut between timestamps; long lines are cut")
    func perTickLimits() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let limits = LogReadLimits(maxBytesPerSource: 1 << 20, maxLinesPerSource: 2, maxLineBytes: 8)
        let reader = try engine.reader(limits: limits)
        #expect(await tick(reader).isEmpty)
        try await engine.write("talker", "1", "2", "3", "a line longer than eight bytes", "5")
        #expect(await tick(reader).map(\.message) == ["1", "2"])
        let next = await tick(reader)
        #expect(next.map(\.message) == ["3", "a line l"])
        #expect(next.last?.metadata["truncated"] == "true")
        #expect(next.last?.metadata["original_length"] == "30")
        #expect(await tick(reader).map(\.message) == ["5"])
        #expect(await tick(reader).isEmpty)
    }

    @Test("a line the engine split into partial messages (over 16 KiB) arrives whole")
    func partialMessagesJoined() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let reader = try engine.reader()
        #expect(await tick(reader).isEmpty)
        let long = String(repeating: "0123456789", count: 4000)  // 40,000 bytes: three partial messages
        try await engine.write("talker", long, "after")
        let records = await ticks(reader, until: 2)
        #expect(records.map(\.message) == [long, "after"])
    }

    @Test(
        "long container log lines: the rest of a line read half-written arrives (the engine stamps every part with the first part's time)"
    )
    func restOfAHalfWrittenLineArrives() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let reader = try engine.reader()
        #expect(await tick(reader).isEmpty)
        // 20,000 bytes without a line end: the engine logs a first partial message of 16 KiB and
        // holds the rest; a tick reads (and ships) that part.
        let head = String(repeating: "0123456789", count: 2000)
        try engine.writeWithoutLineEnd("talker", head)
        var shipped = await ticks(reader, until: 1)
        #expect(shipped.count == 1 && shipped.first.map { head.hasPrefix($0.message) } == true)
        // The line ends: its last part carries the first part's time, already shipped.
        try await engine.write("talker", "-end", "after")
        shipped += await ticks(reader, until: 2)
        #expect(shipped.map(\.message).joined(separator: "|").hasSuffix("|after"))
        let whole = shipped.dropLast().map(\.message).joined()
        #expect(whole == head + "-end", "got \(whole.count) bytes of \(head.count + 4)")
    }

    @Test("container lines join the log batch, and positions are committed only after the append")
    func positionsFollowSpoolAppends() async throws {
        let engine = try LoggingEngine()
        defer { engine.stop() }
        try await engine.create("talker")
        let spoolDirectory = engine.directory.path + "/spool"
        let spool = try Spool(directory: spoolDirectory, options: SpoolOptions(fsync: .never), logger: quietLogger)
        func makeReader() throws -> ContainerLogReader {
            let component = ComponentConfig(
                name: "talker-app",
                clientID: "tenant-a",
                containerName: engine.prefix + "talker"
            )
            return try #require(
                ContainerLogReader(
                    components: [component],
                    spoolDirectory: spoolDirectory,
                    client: engine.client(),
                    logger: quietLogger
                )
            )
        }
        let reader = try makeReader()
        func appendTick(at time: Int64) async -> Bool {
            let read = await reader.read(timeout: .seconds(10))
            return SamplerService.appendLogs(
                [],
                tailer: nil,
                containerLogs: (reader, read),
                agentID: "agent",
                at: time,
                to: spool
            )
        }
        #expect(await appendTick(at: 1))
        try await engine.write("talker", [("stderr", "shipped")])
        #expect(await appendTick(at: 2))
        let batch = try ResourceWatcher_V1_Batch(serializedBytes: try #require(spool.latest(.logs)).payload)
        #expect(batch.logs.map(\.message) == ["shipped"])
        #expect(batch.logs.first?.metadata["stream"] == "stderr")
        spool.close()
        try await engine.write("talker", "not yet shipped")
        #expect(!(await appendTick(at: 3)))
        #expect(await reader.read(timeout: .seconds(10)).records.map(\.message) == ["not yet shipped"])
        #expect(await (try makeReader()).read(timeout: .seconds(10)).records.map(\.message) == ["not yet shipped"])
    }
}

/// The logs body decoder, on bytes built by hand.
@Suite("Docker log stream")
struct DockerLogStreamTests {
    private func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        let size = UInt32(payload.count)
        let header = [stream, 0, 0, 0, UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF)]
        return header + [UInt8(size & 0xFF)] + payload
    }

    @Test("multiplexed frames become lines with their stream; split messages are joined; a cut frame is ignored")
    func multiplexedFrames() {
        let body =
            frame(1, "2024-05-01T10:00:00.000000001Z hello\n")
            + frame(2, "2024-05-01T10:00:00.000000002Z part one, ")
            + frame(1, "2024-05-01T10:00:00.000000003Z between\n")
            + frame(2, "2024-05-01T10:00:00.000000004Z part two\n")
            + frame(0, "2024-05-01T10:00:00.000000005Z stdin is skipped\n")
            + Array(frame(1, "2024-05-01T10:00:00.000000006Z cut off\n").dropLast(3))
        let lines = DockerLogStream(maxLineBytes: 1024).lines(of: body, multiplexed: true)
        let base: Int64 = 1_714_557_600_000_000_000
        #expect(
            lines == [
                .init(timestampUnixNanoseconds: base + 1, stream: .stdout, text: "hello"),
                .init(timestampUnixNanoseconds: base + 3, stream: .stdout, text: "between"),
                .init(timestampUnixNanoseconds: base + 4, stream: .stderr, text: "part one, part two"),
            ]
        )
    }

    @Test("the raw stream of a TTY is split on line ends, carriage returns dropped")
    func rawStream() {
        let body = Array("2024-05-01T10:00:00.5Z first\r\n2024-05-01T12:00:01.25+02:00 second\r\n".utf8)
        let lines = DockerLogStream(maxLineBytes: 1024).lines(of: body, multiplexed: false)
        #expect(lines.map(\.text) == ["first", "second"])
        #expect(lines.map(\.timestampUnixNanoseconds) == [1_714_557_600_500_000_000, 1_714_557_601_250_000_000])
        #expect(lines.allSatisfy { $0.stream == .stdout })
    }

    @Test("timestamps parse to nanoseconds; since and until are sent as seconds with nine digits")
    func timestamps() {
        #expect(DockerLogStream.parseTimestamp(Array("1970-01-01T00:00:00Z".utf8)) == 0)
        let leapDay = DockerLogStream.parseTimestamp(Array("2024-02-29T23:59:59.999999999Z".utf8))
        #expect(leapDay == 1_709_251_199_999_999_999)
        let behindUTC = DockerLogStream.parseTimestamp(Array("2024-05-01T10:00:00.123-01:30".utf8))
        #expect(behindUTC == 1_714_563_000_123_000_000)
        #expect(DockerLogStream.parseTimestamp(Array("not a time at all".utf8)) == nil)
        #expect(DockerClient.unixTimestamp(nanoseconds: 1_714_557_600_000_000_042) == "1714557600.000000042")
    }
}

/// An engine in memory whose transport refuses bodies over `maximumBodyBytes`, like
/// `CurlTransport`'s limit: one running container "busy" with a log of `lines`.
private final class OversizedLogTransport: HTTPTransport {
    let id = String(repeating: "ab", count: 32)
    let lines: [(unixNanoseconds: Int64, text: String)]
    let maximumBodyBytes: Int

    init(lines: [(unixNanoseconds: Int64, text: String)], maximumBodyBytes: Int) {
        self.lines = lines
        self.maximumBodyBytes = maximumBodyBytes
    }

    func send(_ request: HTTPRequest) async throws(HTTPTransportError) -> HTTPResponse {
        let path = request.url.split(separator: "?").first.map(String.init) ?? request.url
        let query = request.url.split(separator: "?").dropFirst().first.map(String.init) ?? ""
        if path.hasSuffix("/_ping") {
            return HTTPResponse(status: 200, headers: [("Api-Version", "1.41")], body: Array("OK".utf8))
        }
        if path.hasSuffix("/containers/json") {
            return json(#"[{"Id": "\#(id)", "Names": ["/busy"], "State": "running", "Created": 1}]"#)
        }
        if path.hasSuffix("/containers/\(id)/json") { return json(#"{"Id": "\#(id)", "Config": {"Tty": false}}"#) }
        var parameters: [String: Int64] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "since" || parts[0] == "until" else { continue }
            let seconds = parts[1].split(separator: ".").map(String.init)
            parameters[parts[0]] = Int64(seconds[0])! * 1_000_000_000 + Int64(seconds[1])!
        }
        var body: [UInt8] = []
        for line in lines
        where line.unixNanoseconds >= parameters["since", default: 0]
            && line.unixNanoseconds <= parameters["until", default: .max]
        {
            let seconds = line.unixNanoseconds / 1_000_000_000
            let fraction = String(line.unixNanoseconds % 1_000_000_000)
            let stamp = Self.stamp(seconds)
            let digits = String(repeating: "0", count: 9 - fraction.count) + fraction
            let payload = Array((stamp + "." + digits + "Z " + line.text + "\n").utf8)
            body += [1, 0, 0, 0, 0, 0, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
        }
        guard body.count <= maximumBodyBytes else {
            throw HTTPTransportError(code: .responseTooLarge, message: "\(body.count) bytes")
        }
        return HTTPResponse(status: 200, body: body)
    }

    /// "2024-05-01T10:00:00" for seconds within 2024-05-01 10:00 UTC and the next minutes.
    private static func stamp(_ unixSeconds: Int64) -> String {
        let second = unixSeconds - 1_714_557_600
        precondition((0..<3600).contains(second), "the fake stamps one hour only")
        let minutes = String(second / 60)
        let seconds = String(second % 60)
        return "2024-05-01T10:" + (minutes.count == 1 ? "0" : "") + minutes + ":" + (seconds.count == 1 ? "0" : "")
            + seconds
    }

    private func json(_ text: String) -> HTTPResponse { HTTPResponse(status: 200, body: Array(text.utf8)) }
}

@Suite("Container logs over the transport's body limit")
struct ContainerLogWindowTests {
    @Test("an answer too large for the transport is asked again in smaller time windows; nothing is lost")
    func oversizedAnswersAreWindowed() async throws {
        let base: Int64 = 1_714_557_600_000_000_000
        let lines = (1...100).map {
            (unixNanoseconds: base + Int64($0) * 1_000_000, text: "line \($0) " + String(repeating: "x", count: 80))
        }
        let transport = OversizedLogTransport(lines: lines, maximumBodyBytes: 1000)
        let directory = TemporaryDirectory(prefix: "rw-container-window")
        defer { directory.remove() }
        let reader = try #require(
            ContainerLogReader(
                sources: [.init(component: "busy-app", clientID: "", containerName: "busy")],
                client: DockerClient(transport: transport, engine: DockerEngine(socketPath: "/fake.sock")),
                positionsPath: directory.path + "/positions.json",
                logger: quietLogger
            )
        )
        // First sight at `base`: every line is news.
        reader.commit(await reader.read(timeout: .seconds(10), nowUnixNanoseconds: base))
        var received: [String] = []
        let now = base + 1_000_000_000
        for _ in 0..<200 where received.count < lines.count {
            let read = await reader.read(timeout: .seconds(10), nowUnixNanoseconds: now)
            reader.commit(read)
            received += read.records.map(\.message)
        }
        #expect(received == lines.map(\.text))
        #expect(await reader.read(timeout: .seconds(10), nowUnixNanoseconds: now).records.isEmpty)
    }
}
