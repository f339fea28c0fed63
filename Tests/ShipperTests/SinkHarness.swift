import HTTPTransport
import Logging
import NIOPosix
import Shipper
import Spool
import SwiftProtobuf
import TestSupport
import Testing
import WatcherModel
import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// A real spool in a temporary directory, a thread pool, and sink loops running over them, as
/// the agent wires them; tests append batches and watch what the destinations receive.
final class SinkHarness: @unchecked Sendable {
    let directory = TemporaryDirectory()
    let spool: Spool
    let pool = NIOThreadPool(numberOfThreads: 2)
    let logger: Logger
    private var tasks: [Task<Void, any Error>] = []

    init(consumers: [String], spoolDirectory: String? = nil) throws {
        let logger = Logger.quiet("shipper-test")
        self.logger = logger
        pool.start()
        spool = try Spool(directory: spoolDirectory ?? directory.path + "/spool", consumers: consumers, logger: logger)
    }

    func tearDown() async {
        for task in tasks { task.cancel() }
        for task in tasks { _ = await task.result }
        spool.close()
        try? await pool.shutdownGracefully()
        directory.remove()
    }

    /// A sink loop over this spool; started by `start`.
    func sink<Encoder: SinkEncoder>(
        _ name: String,
        _ encoder: Encoder,
        minBackoff: Duration = .milliseconds(20),
        maxBackoff: Duration = .seconds(1),
        shutdownGrace: Duration = .seconds(5)
    ) -> SinkService<Encoder> {
        SinkService(
            name: name,
            encoder: encoder,
            spool: spool,
            transport: CurlTransport(userAgent: "resource-watcher/test", requestTimeout: .seconds(30)),
            retryPolicy: RetryPolicy(minimumBackoff: minBackoff, maximumBackoff: maxBackoff),
            ioThreadPool: pool,
            logger: logger,
            shutdownGrace: shutdownGrace,
            idlePollInterval: .milliseconds(20)
        )
    }

    func start<Encoder: SinkEncoder>(_ service: SinkService<Encoder>) {
        tasks.append(Task { try await service.run() })
    }

    @discardableResult
    func append(_ batch: ResourceWatcher_V1_Batch, kind: RecordKind = .sample) throws -> UInt64 {
        try spool.append(kind: kind, payload: try batch.serializedBytes())
    }

    /// Polls (with a deadline) until the sink's cursor reaches `sequence`.
    func waitForCursor(_ consumer: String, atLeast sequence: UInt64, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while (spool.cursor(of: consumer) ?? 0) < sequence {
            if ContinuousClock.now >= deadline {
                Issue.record("\(consumer) cursor \(spool.cursor(of: consumer) ?? 0), expected \(sequence)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A log batch of `lines` agent log records stamped `at` (Unix ms).
    static func logBatch(
        _ lines: [String],
        at time: Int64 = RFC3339.nowUnixMilliseconds(),
        component: String = "ollama"
    ) -> ResourceWatcher_V1_Batch {
        var batch = ResourceWatcher_V1_Batch()
        batch.schemaVersion = 1
        batch.agentID = "host-1/acme"
        batch.timestampUnixMs = time
        batch.logs = lines.enumerated().map { index, line in
            var record = ResourceWatcher_V1_LogRecord()
            record.timestampUnixNs = time * 1_000_000 + Int64(index)
            record.clientID = "acme"
            record.component = component
            record.source = "/var/log/\(component).log"
            record.level = .info
            record.message = line
            return record
        }
        return batch
    }

    /// A sample batch with one healthy component and, when `transition` is set, an alert transition.
    static func sampleBatch(
        at time: Int64 = RFC3339.nowUnixMilliseconds(),
        firing: Bool? = nil
    ) -> ResourceWatcher_V1_Batch {
        var batch = SinkEncoderTests.batch(at: time, [SinkEncoderTests.component("ollama", .healthy)])
        if let firing { batch.transitions = [SinkEncoderTests.transition("ollama", firing: firing, at: time)] }
        return batch
    }
}
