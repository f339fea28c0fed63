import Foundation
import Shipper
import TestSupport
import Testing
import WatcherModel
import WatcherProto

/// Remote-write resends against a real Prometheus (its remote-write receiver rolls back a whole
/// request when any sample is older than its series' newest, and answers 400): a resend that
/// repeats samples Prometheus holds, with request boundaries drawn differently from the first
/// send (after a crash mid-group, or an outage), must not take the fresh samples down with it.
@Suite("Remote-write resends", .serialized)
struct RemoteWriteResendTests {
    private static let step: Int64 = 10_000

    private func batch(at time: Int64, _ names: [String]) -> ResourceWatcher_V1_Batch {
        SinkEncoderTests.batch(at: time, names.map { SinkEncoderTests.component($0, .healthy) })
    }

    @Test("a resend mixing samples Prometheus holds with fresh ones: every (series, timestamp) arrives")
    func resendMixingOldAndFreshSamples() async throws {
        let directory = TemporaryDirectory(prefix: "rw-resend")
        defer { directory.remove() }
        let prometheus = try await PrometheusServer(directory: directory.path)
        defer { prometheus.kill() }
        let url = prometheus.baseURL + "/api/v1/write"
        let base = (RFC3339.nowUnixMilliseconds() / 1000) * 1000 - 20 * Self.step

        // Delivered first: ticks 0-4 of component a.
        let first = try SinkHarness(consumers: ["prometheus"])
        for tick in 0..<5 { try first.append(batch(at: base + Int64(tick) * Self.step, ["a"])) }
        first.start(
            first.sink(
                "prometheus",
                RemoteWriteSink(url: url, tenantHeader: false, instance: "t", maxSamplesPerRequest: 2000)
            )
        )
        try await first.waitForCursor("prometheus", atLeast: 5)
        await first.tearDown()

        // The resend (its cursor lost with a crash): ticks 2-9 of a and b, in one request, so
        // a's samples at ticks 2-4 (older than a's newest in Prometheus) share it with fresh ones.
        let second = try SinkHarness(consumers: ["prometheus"])
        defer { Task { await second.tearDown() } }
        for tick in 2..<10 { try second.append(batch(at: base + Int64(tick) * Self.step, ["a", "b"])) }
        second.start(
            second.sink(
                "prometheus",
                RemoteWriteSink(url: url, tenantHeader: false, instance: "t", maxSamplesPerRequest: 2000)
            )
        )
        try await second.waitForCursor("prometheus", atLeast: 8)

        let times = try await prometheus.rawSampleTimes(
            "resource_watcher_component_cpu_usage[10m]",
            at: Double(base + 10 * Self.step) / 1000
        )
        let expectedA = (0..<10).map { base + Int64($0) * Self.step }
        let expectedB = (2..<10).map { base + Int64($0) * Self.step }
        #expect(times["resource_watcher_component_cpu_usage{a}"] == expectedA, "\(times)")
        #expect(times["resource_watcher_component_cpu_usage{b}"] == expectedB, "\(times)")
    }
}
