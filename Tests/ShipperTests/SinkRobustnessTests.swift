import HTTPTransport
import Logging
import NIOPosix
import Spool
import Synchronization
import TestSupport
import Testing
import WatcherProto

@testable import Shipper

#if canImport(Glibc)
import Glibc
#endif

/// Regression tests from a review of the Shipper: hostile answers from a destination and spool
/// trouble must neither crash nor stop a sink, nor make it spin.
@Suite("Sinks survive hostile answers and failing cursors", .serialized)
struct SinkRobustnessTests {
    // MARK: Retry-After from the destination crashes the agent

    @Test("an HTTP-date Retry-After with a huge year is refused, not a crash (Int32 conversion trap)")
    func hugeHTTPDateDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            _ = RetryPolicy.parseRetryAfter("Wed, 21 Oct 99999999999 07:28:00 GMT", nowUnixSeconds: 0)
        }
    }

    @Test("a sink that gets 503 with Retry-After: 10000000000000000 keeps running (log metadata overflows)")
    func hugeRetryAfterDoesNotCrashTheSink() async {
        await #expect(processExitsWith: .success) {
            let directory = TemporaryDirectory(prefix: "rw-review")
            let logger = Logger.quiet("review")
            let pool = NIOThreadPool(numberOfThreads: 1)
            pool.start()
            let spool = try Spool(directory: directory.path + "/spool", consumers: ["loki"], logger: logger)
            try spool.append(kind: .logs, payload: try SinkHarness.logBatch(["hello"]).serializedBytes())
            let transport = ScriptedTransport { _ in
                HTTPResponse(status: 503, headers: [("Retry-After", "10000000000000000")])
            }
            let sink = SinkService(
                name: "loki",
                encoder: LokiSink(url: "http://loki.invalid", tenantHeader: false),
                spool: spool,
                transport: transport,
                retryPolicy: RetryPolicy(minimumBackoff: .milliseconds(10), maximumBackoff: .seconds(1)),
                ioThreadPool: pool,
                logger: logger,
                idlePollInterval: .milliseconds(10)
            )
            let task = Task { try await sink.run() }
            let deadline = ContinuousClock.now + .seconds(2)
            while transport.calls < 1 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: .milliseconds(300))  // the trap, if any, happens right after the 503
            task.cancel()
            exit(transport.calls >= 1 ? 0 : 3)
        }
    }

    // MARK: Busy loop when the spool's last sequence is beyond what the reader can reach

    @Test("a sink whose records end before spool.lastSequence sleeps instead of spinning")
    func noBusyLoopWhenAnotherCursorIsAheadOfTheData() async throws {
        // Another consumer's cursor is past the data (fsync "interval"/"never" and a power cut:
        // cursors are always fsynced, records were not). Open bumps nextSequence above that
        // cursor, so lastSequence (10) > every record (3): the "b" loop never reaches it.
        let directory = TemporaryDirectory(prefix: "rw-review")
        defer { directory.remove() }
        let logger = Logger.quiet("review")
        let path = directory.path + "/spool"
        let options = SpoolOptions(segmentSizeBytes: 1)  // one record per segment file
        do {
            let spool = try Spool(directory: path, options: options, consumers: ["a", "b"], logger: logger)
            for index in 0..<10 {
                try spool.append(
                    kind: .sample,
                    payload: try SinkHarness.sampleBatch(at: 1_000 + Int64(index)).serializedBytes()
                )
            }
            try spool.acknowledge(consumer: "a", through: 10)
            spool.close()
        }
        for sequence in 4...10 {
            unlink(path + "/" + String(repeating: "0", count: 20 - String(sequence).count) + "\(sequence).seg")
        }

        let spool = try Spool(directory: path, options: options, consumers: ["a", "b"], logger: logger)
        #expect(spool.statistics().lastSequence == 10)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let encoder = CountingEncoder()
        let sink = SinkService(
            name: "b",
            encoder: encoder,
            spool: spool,
            transport: ScriptedTransport { _ in HTTPResponse(status: 204) },
            retryPolicy: RetryPolicy(minimumBackoff: .milliseconds(10), maximumBackoff: .seconds(1)),
            ioThreadPool: pool,
            logger: logger,
            idlePollInterval: .milliseconds(200)
        )
        let task = Task { try await sink.run() }
        try await Task.sleep(for: .seconds(1))
        task.cancel()
        _ = await task.result
        spool.close()
        try? await pool.shutdownGracefully()
        // Idle at 200 ms: about 5 reads a second. Spinning: thousands.
        let calls = encoder.calls
        #expect(calls < 50, "encode called \(calls) times in 1 s with an idle poll of 200 ms")
    }

    // MARK: A failed cursor write ends the sink loop (and, through ServiceGroup, the agent)

    @Test("a cursor write that fails once (ENOSPC, EIO) does not end the sink loop")
    func cursorWriteFailureDoesNotKillTheSink() async throws {
        let directory = TemporaryDirectory(prefix: "rw-review")
        defer { directory.remove() }
        let logger = Logger.quiet("review")
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let spool = try Spool(directory: directory.path + "/spool", consumers: ["loki"], logger: logger)
        let sink = SinkService(
            name: "loki",
            encoder: LokiSink(url: "http://loki.invalid", tenantHeader: false),
            spool: spool,
            transport: ScriptedTransport { _ in HTTPResponse(status: 204) },
            retryPolicy: RetryPolicy(minimumBackoff: .milliseconds(10), maximumBackoff: .seconds(1)),
            ioThreadPool: pool,
            logger: logger,
            idlePollInterval: .milliseconds(10)
        )
        let task = Task { try await sink.run() }
        // The cursor file cannot be replaced (here: its directory is gone; in production: a full disk).
        _ = run("/bin/rm", ["-rf", directory.path + "/spool/cursors"])
        try spool.append(kind: .logs, payload: try SinkHarness.logBatch(["line"]).serializedBytes())
        try await Task.sleep(for: .milliseconds(500))
        let finished = Flag()
        let watcher = Task {
            let result = await task.result
            finished.set("\(result)")
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(finished.value == nil, "SinkService.run() ended after one failed cursor write: \(finished.value ?? "")")
        task.cancel()
        _ = await watcher.value
        spool.close()
        try? await pool.shutdownGracefully()
    }
}

/// An encoder that counts its calls and sends one tiny request per non-empty chunk.
struct CountingEncoder: SinkEncoder {
    final class Counter: Sendable { let value = Atomic(0) }
    private let counter = Counter()
    var calls: Int { counter.value.load(ordering: .relaxed) }
    let recordKinds: Set<RecordKind> = [.sample]
    let itemName = "records"

    mutating func encode(_ batches: [SpoolBatch]) -> [OutgoingRequest] {
        counter.value.add(1, ordering: .relaxed)
        guard let last = batches.last else { return [] }
        return [
            OutgoingRequest(
                request: HTTPRequest(method: .post, url: "http://sink.invalid"),
                itemCount: batches.count,
                acknowledgeThrough: last.sequence,
                oldestUnixMilliseconds: 0
            )
        ]
    }
}

/// A value set once from another task.
final class Flag: Sendable {
    private let state = Mutex<String?>(nil)
    var value: String? { state.withLock { $0 } }
    func set(_ value: String) { state.withLock { $0 = $0 ?? value } }
}
