import HTTPTransport
import Logging
import Synchronization
import TestSupport
import Testing
import WatcherModel

@testable import Shipper

@Suite("A sink notices its destination's return")
struct ReachabilityProbeTests {
    @Test("the probe's host and port come from the sink URL; anything else has no probe")
    func urls() {
        #expect(ReachabilityProbe(url: "http://127.0.0.1:9090/api/v1/write") == .init(host: "127.0.0.1", port: 9090))
        #expect(
            ReachabilityProbe(url: "https://loki.example/loki/api/v1/push") == .init(host: "loki.example", port: 443)
        )
        #expect(ReachabilityProbe(url: "HTTP://example") == .init(host: "example", port: 80))
        #expect(ReachabilityProbe(url: "http://[::1]:3100/x") == .init(host: "::1", port: 3100))
        #expect(ReachabilityProbe(url: "http://user:secret@host:81/") == .init(host: "host", port: 81))
        #expect(ReachabilityProbe(url: "http://host:81?x=1") == .init(host: "host", port: 81))
        for bad in [
            "unix:///var/run/docker.sock", "http://host:0/", "http://host:99999/", "http://:80/", "http://[::1/",
        ] {
            #expect(ReachabilityProbe(url: bad) == nil, "\(bad)")
        }
    }

    @Test("a port something listens on is reachable; a closed one is not")
    func reachability() throws {
        let server = try FixtureServer("loki_server.py")
        defer { server.stop() }
        #expect(ReachabilityProbe(host: "127.0.0.1", port: UInt16(server.port)).isReachable())
        #expect(ReachabilityProbe(host: "localhost", port: UInt16(server.port)).isReachable())
        let closed = try ProcessHelpers.freeLoopbackPort()
        #expect(!ReachabilityProbe(host: "127.0.0.1", port: UInt16(closed)).isReachable())
        #expect(!ReachabilityProbe(host: "no-such-host.invalid", port: 80).isReachable())
    }

    @Test("a destination that refused connections is retried once it accepts them again, not after the backoff")
    func retriedWhenBack() async throws {
        let port = try ProcessHelpers.freeLoopbackPort()
        let recorder = LogRecorder()
        let harness = try SinkHarness(consumers: ["loki"])
        defer { Task { await harness.tearDown() } }
        try harness.append(SinkHarness.logBatch(["while the destination is down"]))
        // A backoff of up to 10 minutes: only the probe can bring the retry within the test.
        let sink = SinkService(
            name: "loki",
            encoder: LokiSink(url: "http://127.0.0.1:\(port)", tenantHeader: false),
            spool: harness.spool,
            transport: CurlTransport(userAgent: "resource-watcher/test", requestTimeout: .seconds(5)),
            retryPolicy: RetryPolicy(minimumBackoff: .seconds(600), maximumBackoff: .seconds(600)),
            ioThreadPool: harness.pool,
            logger: recorder.logger,
            idlePollInterval: .milliseconds(20)
        )
        harness.start(sink)
        try await pollUntil("a failed attempt") {
            sink.metrics.snapshot(lagRecords: 0, nowUnixMilliseconds: RFC3339.nowUnixMilliseconds()).failedAttempts >= 1
        }
        let loki = try FixtureServer("loki_server.py", port: port)
        defer { loki.stop() }
        try await harness.waitForCursor("loki", atLeast: 1, timeout: .seconds(20))
        let messages = recorder.messages.withLock { $0 }
        #expect(messages.contains("sink destination accepts connections again; retrying now"), "\(messages)")
        #expect(
            sink.metrics.snapshot(lagRecords: 0, nowUnixMilliseconds: RFC3339.nowUnixMilliseconds()).failedAttempts
                == 1,
            "one failed request, then probes"
        )
    }
}
