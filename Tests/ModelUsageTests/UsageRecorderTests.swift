import Logging
import ModelUsage
import NIOPosix
import Spool
import TestSupport
import Testing
import WatcherModel
import WatcherProto

/// The recorder: every event is in the spool before it counts, and concurrent events share appends.
@Suite("Usage recorder")
struct UsageRecorderTests {
    private func event(_ model: String, tokens: UInt64) -> ResourceWatcher_V1_ModelUsage {
        var event = ResourceWatcher_V1_ModelUsage()
        event.clientID = "acme"
        event.provider = "ollama"
        event.name = model
        event.requestsCount = 1
        event.tokensInput = tokens
        return event
    }

    @Test("2,000 events from 200 concurrent callers: each counted once, all in the spool, in far fewer appends")
    func groupCommit() async throws {
        let directory = TemporaryDirectory(prefix: "rw-recorder")
        defer { directory.remove() }
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let spool = try Spool(directory: directory.path + "/spool", consumers: [], logger: .quiet())
        let ledger = UsageLedger()
        let recorder = UsageRecorder(
            ledger: ledger,
            spool: spool,
            agentID: "h/acme",
            ioThreadPool: pool,
            logger: .quiet()
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<200 {
                group.addTask {
                    for index in 0..<10 {
                        if index % 2 == 0 {
                            try await recorder.record([self.event("m\(caller % 3)", tokens: 1)])
                        } else {
                            recorder.submit([self.event("m\(caller % 3)", tokens: 1)])
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        await recorder.drain()
        #expect(ledger.snapshot().reduce(UInt64(0)) { $0 + $1.requestsCount } == 2000)
        #expect(recorder.appendCount < 2000, "appends: \(recorder.appendCount)")
        // The spool holds every event: a restart rebuilds the same totals.
        let restored = UsageLedger()
        try UsageRecorder.restore(restored, from: spool)
        #expect(restored.snapshot().reduce(UInt64(0)) { $0 + $1.requestsCount } == 2000)
        #expect(restored.snapshot().reduce(UInt64(0)) { $0 + $1.tokensInput } == 2000)
        spool.close()
        try await pool.shutdownGracefully()
    }

    @Test("past the model limit a tenant's new models are recorded as _other")
    func boundedModels() async throws {
        let directory = TemporaryDirectory(prefix: "rw-recorder")
        defer { directory.remove() }
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let spool = try Spool(directory: directory.path + "/spool", consumers: [], logger: .quiet())
        let recorder = UsageRecorder(
            ledger: UsageLedger(),
            spool: spool,
            agentID: "h/acme",
            ioThreadPool: pool,
            logger: .quiet()
        )
        let events = (0..<(UsageRecorder.maximumModelsPerTenant + 5)).map { event("model-\($0)", tokens: 1) }
        try await recorder.record(recorder.bounded(events, component: "proxy"))
        let names = Set(recorder.ledger.snapshot().map(\.name))
        #expect(names.count == UsageRecorder.maximumModelsPerTenant + 1)
        #expect(recorder.ledger.snapshot().first { $0.name == UsageRecorder.overflowModel }?.requestsCount == 5)
        #expect(recorder.limits.count(component: "proxy", reason: "models_over_limit") == 5)
        spool.close()
        try await pool.shutdownGracefully()
    }
}
