import Shipper
import Spool
import TestSupport
import Testing
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// The sink loops against strict stand-ins for Loki and the orchestrator (Tests/Fixtures) that
/// answer from fault scripts: what is retried, what is dropped and counted, how long the loop
/// waits, and that one destination's outage holds back no other.
@Suite("Sink delivery and faults", .serialized)
struct SinkFaultTests {
    /// The log lines of a logged Loki push.
    static func lines(_ request: [String: Any]) -> [String] {
        let body = request["body_json"] as? [String: Any]
        let streams = body?["streams"] as? [[String: Any]] ?? []
        return streams.flatMap { ($0["values"] as? [[Any]] ?? []).compactMap { $0.count > 1 ? $0[1] as? String : nil } }
    }

    static func seconds(_ request: [String: Any]) -> Double { request["received_monotonic"] as? Double ?? 0 }

    @Test("Loki accepts the pushed lines and alert transitions, and the cursor moves past them")
    func lokiDelivers() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        let harness = try SinkHarness(consumers: ["loki"])
        let sink = harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: true))
        harness.start(sink)
        try harness.append(SinkHarness.logBatch(["first line", "second line"]), kind: .logs)
        let last = try harness.append(SinkHarness.sampleBatch(firing: true))
        try await harness.waitForCursor("loki", atLeast: last)
        let accepted = try await loki.accepted()
        #expect(accepted["entry_count"] as? Int == 3)
        let log = try await loki.requests()
        #expect(log.allSatisfy { $0["status"] as? Int == 204 }, "\(log.map { $0["reason"] ?? "" })")
        #expect(log.allSatisfy { ($0["headers"] as? [String: String])?["x-scope-orgid"] == "acme" })
        #expect(log.flatMap(Self.lines).prefix(2) == ["first line", "second line"])
        let snapshot = sink.metrics.snapshot(lagRecords: 0, nowUnixMilliseconds: RFC3339.nowUnixMilliseconds())
        #expect(snapshot.sentItems == 3)
        #expect(snapshot.lastSuccessUnixMilliseconds != nil)
        await harness.tearDown()
    }

    @Test("a 500 is retried and the same lines then accepted once")
    func serverErrorIsRetried() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        try await loki.setFaults([(500, nil)])
        let harness = try SinkHarness(consumers: ["loki"])
        let sink = harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: false))
        harness.start(sink)
        let sequence = try harness.append(SinkHarness.logBatch(["retry me"]), kind: .logs)
        try await harness.waitForCursor("loki", atLeast: sequence)
        let log = try await loki.requests()
        #expect(log.map { $0["status"] as? Int } == [500, 204])
        #expect(log.map(Self.lines) == [["retry me"], ["retry me"]])
        let snapshot = sink.metrics.snapshot(lagRecords: 0, nowUnixMilliseconds: 0)
        #expect(snapshot.retries == 1)
        #expect(snapshot.sentItems == 1)
        await harness.tearDown()
    }

    @Test("a sink that starts failing saves its cursor file at once, though the lazy interval has not passed")
    func cursorSavedWhenFailing() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        let harness = try SinkHarness(consumers: ["loki"])
        let sink = harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: false))
        harness.start(sink)
        func cursorFile() throws -> UInt64? {
            try SpoolVerifier.verify(directory: harness.spool.directory).cursors.first { $0.name == "loki" }?.sequence
        }
        let first = try harness.append(SinkHarness.logBatch(["first"]), kind: .logs)
        try await harness.waitForCursor("loki", atLeast: first)
        try await pollUntil("the first cursor file") { try cursorFile() == first }
        // Within the interval (10 s) of that write: delivered, but the file stays behind.
        let second = try harness.append(SinkHarness.logBatch(["second"]), kind: .logs)
        try await harness.waitForCursor("loki", atLeast: second)
        #expect(try cursorFile() == first)
        try await loki.setFaults([], then: 503)
        _ = try harness.append(SinkHarness.logBatch(["third"]), kind: .logs)
        try await pollUntil("the cursor file saved when the sink failed", timeout: .seconds(5)) {
            try cursorFile() == second
        }
        await harness.tearDown()
    }

    @Test("a 400 is not resent: the request is dropped, counted by reason, and later data still flows")
    func clientErrorIsDroppedAndCounted() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        try await loki.setFaults([(400, nil)])
        let harness = try SinkHarness(consumers: ["loki"])
        let sink = harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: false))
        harness.start(sink)
        let rejected = try harness.append(SinkHarness.logBatch(["rejected line"]), kind: .logs)
        try await harness.waitForCursor("loki", atLeast: rejected)
        let next = try harness.append(SinkHarness.logBatch(["next line"]), kind: .logs)
        try await harness.waitForCursor("loki", atLeast: next)
        let log = try await loki.requests()
        #expect(log.map(Self.lines) == [["rejected line"], ["next line"]], "the rejected push is sent exactly once")
        let snapshot = sink.metrics.snapshot(lagRecords: 0, nowUnixMilliseconds: 0)
        #expect(snapshot.droppedRequests == ["http_400": 1])
        #expect(snapshot.droppedItems == ["http_400": 1])
        #expect(snapshot.retries == 0)
        await harness.tearDown()
    }

    @Test("replayed lines Loki rejects as too old are dropped as too_old, never retried")
    func tooOldIsDropped() async throws {
        // As the real Loki does, store the valid entries of a push that has invalid ones.
        let loki = try StrictServer("loki_server.py", ["--partial-accept"])
        defer { loki.stop() }
        let harness = try SinkHarness(consumers: ["loki"])
        let sink = harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: false))
        harness.start(sink)
        let eightDaysAgo = RFC3339.nowUnixMilliseconds() - 8 * 86_400_000
        try harness.append(SinkHarness.logBatch(["from last week"], at: eightDaysAgo), kind: .logs)
        let next = try harness.append(SinkHarness.logBatch(["today"]), kind: .logs)
        try await harness.waitForCursor("loki", atLeast: next)
        // Loki stores the valid entries of a push and answers 400 for the rest; either way the
        // old line is sent once, never again, and today's line is kept.
        let log = try await loki.requests()
        let sent = log.flatMap(Self.lines)
        #expect(sent.filter { $0 == "from last week" }.count == 1, "requests: \(log.map { $0["reason"] ?? "" })")
        #expect(log.first?["status"] as? Int == 400)
        let accepted = try await loki.accepted()
        let streams = accepted["streams"] as? [[String: Any]] ?? []
        #expect(streams.flatMap { ($0["entries"] as? [[Any]] ?? []).compactMap { $0.last as? String } } == ["today"])
        #expect(sink.metrics.snapshot(lagRecords: 0, nowUnixMilliseconds: 0).droppedRequests == ["too_old": 1])
        await harness.tearDown()
    }

    @Test("a 429 with Retry-After: 2 is not retried sooner than 2 s")
    func retryAfterIsHonoured() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        try await loki.setFaults([(429, "2")])
        let harness = try SinkHarness(consumers: ["loki"])
        harness.start(
            harness.sink("loki", LokiSink(url: loki.baseURL, tenantHeader: false), minBackoff: .milliseconds(10))
        )
        let sequence = try harness.append(SinkHarness.logBatch(["slow down"]), kind: .logs)
        try await harness.waitForCursor("loki", atLeast: sequence)
        let log = try await loki.requests()
        try #require(log.count == 2)
        let gap = Self.seconds(log[1]) - Self.seconds(log[0])
        #expect(gap >= 2.0, "retried after \(gap) s")
        await harness.tearDown()
    }

    @Test("constant 503 gives growing, jittered gaps capped at max_backoff_ms, then delivery on recovery")
    func backoffGrowsAndIsCapped() async throws {
        let loki = try StrictServer("loki_server.py")
        defer { loki.stop() }
        try await loki.setFaults([], then: 503)
        let harness = try SinkHarness(consumers: ["loki"])
        let maxBackoff = 0.8
        harness.start(
            harness.sink(
                "loki",
                LokiSink(url: loki.baseURL, tenantHeader: false),
                minBackoff: .milliseconds(50),
                maxBackoff: .milliseconds(800)
            )
        )
        let sequence = try harness.append(SinkHarness.logBatch(["patience"]), kind: .logs)
        let log = try await loki.waitForRequests(timeout: .seconds(40), "16 attempts") { $0.count >= 16 }
        let times = log.prefix(16).map(Self.seconds)
        let gaps = zip(times, times.dropFirst()).map { $1 - $0 }
        // Full jitter: gap k is uniform in [0, min(800 ms, 50 ms × 2^k)] plus the request's own time.
        #expect(gaps.allSatisfy { $0 <= maxBackoff + 0.25 }, "gaps \(gaps)")
        let early = gaps.prefix(3).reduce(0, +) / 3
        let late = gaps.suffix(8).reduce(0, +) / 8
        #expect(late > early * 2, "gaps grow: early mean \(early) s, late mean \(late) s")
        #expect(late > 0.15 && late < maxBackoff, "late gaps are jittered below the cap: \(late) s")
        #expect(Set(gaps.suffix(8).map { ($0 * 100).rounded() }).count > 3, "jittered, not constant: \(gaps)")
        try await loki.setFaults([])
        try await harness.waitForCursor("loki", atLeast: sequence)
        #expect((try await loki.accepted())["entry_count"] as? Int == 1)
        await harness.tearDown()
    }
}
