import Spool
import Testing
import WatcherProto

/// The status API reads what the spool publishes after each append and acknowledgement: a slow
/// disk (each fsync taking a second, through the spool's test seam, while appends run back to
/// back and so hold the append lock nearly all the time) must not slow `/health` or `/metrics`.
@Suite("Status API and a slow disk", .serialized)
struct SlowDiskTests {
    @Test("/health and /metrics answer in under 50 ms while every fsync takes 1 s")
    func healthDoesNotWaitForFsync() async throws {
        try await StatusAPIHarness.withServer(spoolOptions: SpoolOptions(syncDelayForTesting: .seconds(1))) { api in
            let appender = Task.detached {
                var appended = 0
                while !Task.isCancelled {
                    _ = try? api.spool.append(kind: .logs, payload: Array("slow".utf8))
                    appended += 1
                }
                return appended
            }
            // Let the first slow append take the lock.
            let started = api.spool.lastSequence
            var waited = 0
            while api.spool.lastSequence == started && waited < 400 {
                try await Task.sleep(for: .milliseconds(10))  // the next poll, not a synchronisation
                waited += 1
            }
            var slowest = Duration.zero
            for _ in 0..<20 {
                let start = ContinuousClock.now
                let health = try await api.get("/health", token: TenantFixtures.operatorToken)
                slowest = max(slowest, ContinuousClock.now - start)
                #expect(health.status == 200)
                let metricsStart = ContinuousClock.now
                let metrics = try await api.metricsText()
                slowest = max(slowest, ContinuousClock.now - metricsStart)
                #expect(metrics.status == 200)
            }
            appender.cancel()
            let appended = await appender.value
            #expect(appended >= 2, "appends ran (each holding the lock for a second): \(appended)")
            #expect(slowest < .milliseconds(50), "slowest answer: \(slowest)")
        }
    }
}
