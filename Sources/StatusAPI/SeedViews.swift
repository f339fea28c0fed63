public import WatcherProto
import WatcherModel

/// The JSON bodies of the seed's API reference, built from a spool batch. Field names are the
/// seed's exactly; units are DESIGN §3's (percent, MiB, KiB/s), converted from the batch's
/// exact integers here and nowhere else.
public enum SeedViews {
    public struct ComponentsResponse: Encodable, Sendable, Equatable {
        public let metrics: [ComponentMetrics]
        public let timestamp: String
    }

    public struct ComponentMetrics: Encodable, Sendable, Equatable {
        public let component: String
        public let resources: Resources
        public let status: String
    }

    public struct Resources: Encodable, Sendable, Equatable {
        public let cpuUsage: Double
        public let memoryUsage: Double
        public let memoryUsagePercent: Double
        public let diskUsage: Double
        public let networkIn: Double
        public let networkOut: Double

        enum CodingKeys: String, CodingKey {
            case cpuUsage = "cpu_usage"
            case memoryUsage = "memory_usage"
            case memoryUsagePercent = "memory_usage_percent"
            case diskUsage = "disk_usage"
            case networkIn = "network_in"
            case networkOut = "network_out"
        }
    }

    public struct AlertsResponse: Encodable, Sendable, Equatable {
        public let alerts: [Alert]
    }

    public struct Alert: Encodable, Sendable, Equatable {
        public let component: String
        public let alertType: String
        public let value: Double
        public let threshold: Double
        public let timestamp: String
        public let severity: String

        enum CodingKeys: String, CodingKey {
            case component, value, threshold, timestamp, severity
            case alertType = "alert_type"
        }
    }

    /// `GET /metrics/components?client_id=`: the tenant's components in `batch`.
    public static func components(in batch: ResourceWatcher_V1_Batch, clientID: String) -> ComponentsResponse {
        ComponentsResponse(
            metrics: batch.components.filter { $0.clientID == clientID }.map { sample in
                ComponentMetrics(
                    component: sample.name,
                    resources: Resources(
                        cpuUsage: hundredths(Int64(sample.cpuUsageCentipercent)),
                        memoryUsage: rounded(Double(sample.memoryUsageKib) / 1024, places: 1),
                        memoryUsagePercent: hundredths(Int64(sample.memoryUsageCentipercent)),
                        diskUsage: rounded(Double(sample.diskUsageKib) / 1024, places: 1),
                        networkIn: rounded(Double(sample.networkInBytesPerSecond) / 1024, places: 1),
                        networkOut: rounded(Double(sample.networkOutBytesPerSecond) / 1024, places: 1)),
                    status: sample.status.apiName)
            },
            timestamp: RFC3339.format(unixMilliseconds: batch.timestampUnixMs))
    }

    /// `GET /alerts?client_id=`: the tenant's active alerts in `batch`.
    public static func alerts(in batch: ResourceWatcher_V1_Batch, clientID: String) -> AlertsResponse {
        AlertsResponse(
            alerts: batch.activeAlerts.filter { $0.clientID == clientID }.map { alert in
                Alert(
                    component: alert.component, alertType: alert.alertType.apiName,
                    value: hundredths(alert.valueCenti), threshold: hundredths(alert.thresholdCenti),
                    timestamp: RFC3339.format(unixMilliseconds: alert.sinceUnixMs),
                    severity: alert.severity == .critical ? "critical" : "warning")
            })
    }

    private static func hundredths(_ value: Int64) -> Double { Double(value) / 100 }

    private static func rounded(_ value: Double, places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (value * scale).rounded() / scale
    }
}
