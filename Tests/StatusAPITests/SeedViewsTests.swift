import Foundation  // JSONSerialization, to read the bodies back as a client would
import StatusAPI
import Testing
import WatcherProto

@Suite("Seed-shaped views")
struct SeedViewsTests {
    private func batch() -> ResourceWatcher_V1_Batch {
        var batch = ResourceWatcher_V1_Batch()
        batch.timestampUnixMs = 1_743_882_300_000  // 2025-04-05T19:45:00Z
        var ollama = ResourceWatcher_V1_ComponentSample()
        ollama.name = "ollama"
        ollama.clientID = "client1"
        ollama.status = .healthy
        ollama.cpuUsageCentipercent = 1520
        ollama.memoryUsageKib = 1_275_494  // 1245.6 MiB
        ollama.memoryUsageCentipercent = 3580
        ollama.diskUsageKib = 10240 * 1024
        ollama.networkInBytesPerSecond = 12800  // 12.5 KiB/s
        ollama.networkOutBytesPerSecond = 8499  // 8.3 KiB/s
        var other = ollama
        other.name = "langchain"
        other.clientID = "client2"
        batch.components = [ollama, other]
        var alert = ResourceWatcher_V1_Alert()
        alert.component = "ollama"
        alert.clientID = "client1"
        alert.alertType = .highMemoryUsage
        alert.severity = .warning
        alert.valueCenti = 8520
        alert.thresholdCenti = 8000
        alert.sinceUnixMs = 1_743_882_180_000
        var otherAlert = alert
        otherAlert.clientID = "client2"
        batch.activeAlerts = [alert, otherAlert]
        return batch
    }

    private func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("components come out in the seed's shape and units, for the asked tenant only")
    func components() throws {
        let body = try json(SeedViews.components(in: batch(), clientID: "client1"))
        #expect(body["timestamp"] as? String == "2025-04-05T19:45:00Z")
        let metrics = try #require(body["metrics"] as? [[String: Any]])
        #expect(metrics.count == 1)
        #expect(metrics[0]["component"] as? String == "ollama")
        #expect(metrics[0]["status"] as? String == "healthy")
        let resources = try #require(metrics[0]["resources"] as? [String: Any])
        #expect(
            Set(resources.keys) == [
                "cpu_usage", "memory_usage", "memory_usage_percent", "disk_usage", "network_in", "network_out",
            ]
        )
        #expect(resources["cpu_usage"] as? Double == 15.2)
        #expect(resources["memory_usage"] as? Double == 1245.6)
        #expect(resources["memory_usage_percent"] as? Double == 35.8)
        #expect(resources["disk_usage"] as? Double == 10240)
        #expect(resources["network_in"] as? Double == 12.5)
        #expect(resources["network_out"] as? Double == 8.3)
    }

    @Test("alerts come out in the seed's shape, for the asked tenant only")
    func alerts() throws {
        let body = try json(SeedViews.alerts(in: batch(), clientID: "client1"))
        let alerts = try #require(body["alerts"] as? [[String: Any]])
        #expect(alerts.count == 1)
        #expect(alerts[0]["component"] as? String == "ollama")
        #expect(alerts[0]["alert_type"] as? String == "high_memory_usage")
        #expect(alerts[0]["value"] as? Double == 85.2)
        #expect(alerts[0]["threshold"] as? Double == 80)
        #expect(alerts[0]["timestamp"] as? String == "2025-04-05T19:43:00Z")
        #expect(alerts[0]["severity"] as? String == "warning")
    }
}
