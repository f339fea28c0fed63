import HTTPTransport
public import Spool
import WatcherModel
public import WatcherProto

/// The Agent Orchestrator sink's encoder (DESIGN §10): every alert transition becomes a
/// `POST {alerts_path}` in the orchestrator's `/recommendations` shape, and, when a reports path
/// is set, one report per `reportInterval` of sample time. Every post carries an
/// `Idempotency-Key` built from the agent id and the spool sequence, the same on every resend.
public struct OrchestratorSink: SinkEncoder {
    /// `orchestrator_url` + `alerts_path`.
    public let alertsURL: String
    /// `orchestrator_url` + `reports_path`, or nil for no reports.
    public let reportsURL: String?
    /// Least sample time between two reports.
    public let reportInterval: Duration
    /// Sample time (Unix ms) of the last report encoded.
    private var lastReportUnixMilliseconds: Int64?

    public let recordKinds: Set<RecordKind> = [.sample]
    public let itemName = "posts"

    public init(baseURL: String, alertsPath: String, reportsPath: String?, reportInterval: Duration = .seconds(60)) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        func join(_ path: String) -> String { path.hasPrefix("/") ? base + path : base + "/" + path }
        self.alertsURL = join(alertsPath)
        self.reportsURL = reportsPath.map(join)
        self.reportInterval = reportInterval
    }

    public mutating func encode(_ batches: [SpoolBatch]) -> [OutgoingRequest] {
        var requests: [OutgoingRequest] = []
        for item in batches {
            let batch = item.batch
            let key = "\(batch.agentID):\(item.sequence)"
            let first = requests.count
            for (transition, alertKey) in zip(batch.transitions, Self.alertKeys(of: batch, sequence: item.sequence)) {
                requests.append(
                    post(alertBody(transition, in: batch), to: alertsURL, key: alertKey, at: transition.atUnixMs)
                )
            }
            if let reportsURL, isReportDue(at: batch.timestampUnixMs) {
                lastReportUnixMilliseconds = batch.timestampUnixMs
                requests.append(post(reportBody(batch), to: reportsURL, key: key, at: batch.timestampUnixMs))
            }
            if requests.count > first { requests[requests.count - 1].acknowledgeThrough = item.sequence }
        }
        return requests
    }

    /// The `Idempotency-Key` of each alert post a batch (spool record `sequence`) becomes, in
    /// transition order; the same on every resend. Also for accounting what arrived (the soak).
    public static func alertKeys(of batch: ResourceWatcher_V1_Batch, sequence: UInt64) -> [String] {
        batch.transitions.indices.map { "\(batch.agentID):\(sequence):\($0)" }
    }

    private func isReportDue(at unixMilliseconds: Int64) -> Bool {
        guard let last = lastReportUnixMilliseconds else { return true }
        return unixMilliseconds - last >= reportInterval.inMilliseconds
    }

    private func post(_ body: [UInt8], to url: String, key: String, at unixMilliseconds: Int64) -> OutgoingRequest {
        OutgoingRequest(
            request: HTTPRequest(
                method: .post,
                url: url,
                headers: [("Content-Type", "application/json"), ("Idempotency-Key", key)],
                body: body
            ),
            itemCount: 1,
            acknowledgeThrough: nil,
            oldestUnixMilliseconds: unixMilliseconds
        )
    }

    /// `{"context": {...}, "logs": [message], "metrics": {latest resources}}` (DESIGN §10).
    func alertBody(_ transition: ResourceWatcher_V1_AlertTransition, in batch: ResourceWatcher_V1_Batch) -> [UInt8] {
        let alert = transition.alert
        var json = JSONWriter()
        json.beginObject()
        json.key("context")
        json.beginObject()
        json.member("source", "resource_watcher")
        json.member("client_id", alert.clientID)
        json.member("component", alert.component)
        json.member("alert_type", alert.alertType.apiName)
        json.member("severity", alert.severity.apiName)
        json.member("state", transition.state == .firing ? "firing" : "resolved")
        json.member("agent_id", batch.agentID)
        json.member("timestamp", RFC3339.format(unixMilliseconds: transition.atUnixMs))
        json.key("value")
        json.number(Double(alert.valueCenti) / 100)
        json.key("threshold")
        json.number(Double(alert.thresholdCenti) / 100)
        json.endObject()
        json.key("logs")
        json.beginArray()
        json.string(alert.message)
        json.endArray()
        json.key("metrics")
        json.beginObject()
        if let sample = batch.components.first(where: { $0.name == alert.component && $0.clientID == alert.clientID }) {
            for (name, value) in sample.seedResources {
                json.key(name)
                json.number(value)
            }
            json.member("status", sample.status.apiName)
        }
        json.endObject()
        json.endObject()
        return json.bytes
    }

    /// A report of the tick: components and active alerts in the seed's shapes, models, health.
    func reportBody(_ batch: ResourceWatcher_V1_Batch) -> [UInt8] {
        var json = JSONWriter(reservingCapacity: 512 + batch.components.count * 256)
        json.beginObject()
        json.member("agent_id", batch.agentID)
        json.member("timestamp", RFC3339.format(unixMilliseconds: batch.timestampUnixMs))
        json.key("components")
        json.beginArray()
        for sample in batch.components { json.seedComponent(sample, withClientID: true) }
        json.endArray()
        json.key("models")
        json.beginArray()
        for model in batch.models {
            json.beginObject()
            json.member("client_id", model.clientID)
            json.member("name", model.name)
            json.member("provider", model.provider)
            json.key("requests_count")
            json.number(model.requestsCount)
            json.key("tokens_input")
            json.number(model.tokensInput)
            json.key("tokens_output")
            json.number(model.tokensOutput)
            json.endObject()
        }
        json.endArray()
        json.key("alerts")
        json.beginArray()
        for alert in batch.activeAlerts { json.seedAlert(alert, withClientID: true) }
        json.endArray()
        json.key("health")
        json.beginObject()
        json.member("status", batch.activeAlerts.isEmpty ? "healthy" : "degraded")
        json.key("components_down")
        json.number(Int64(batch.components.filter { $0.status == .down }.count))
        json.endObject()
        json.endObject()
        return json.bytes
    }
}
