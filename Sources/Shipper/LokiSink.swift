import HTTPTransport
public import Spool
import WatcherModel
public import WatcherProto

/// The Loki push sink's encoder (DESIGN §7): log records and alert transitions become
/// `POST /loki/api/v1/push` JSON bodies, streams labelled `client_id`, `component`, `source`,
/// `level`, nanosecond timestamps as strings, entries in time order per stream.
///
/// A line longer than Loki's default `max_line_size` (256 KiB) is cut to fit and ends with a
/// visible `…[truncated N bytes]` flag, so the push is not rejected whole.
public struct LokiSink: SinkEncoder {
    /// `<url>/loki/api/v1/push`.
    public let pushURL: String
    /// Send `X-Scope-OrgID: <client_id>`, one tenant per request.
    public let tenantHeader: Bool
    /// A request is closed once its body passes this size (Loki's gRPC limit is 4 MiB).
    let targetBodyBytes: Int

    public let recordKinds: Set<RecordKind> = [.logs, .sample]
    public let itemName = "lines"

    /// Loki's default `max_line_size`.
    public static let maxLineBytes = 256 * 1024

    /// A sink pushing to Loki at `url` (scheme, host and port, e.g. `http://loki:3100`).
    public init(url: String, tenantHeader: Bool, targetBodyBytes: Int = 1 << 20) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        self.pushURL = base.hasSuffix("/loki/api/v1/push") ? base : base + "/loki/api/v1/push"
        self.tenantHeader = tenantHeader
        self.targetBodyBytes = targetBodyBytes
    }

    /// One log line on its way into a stream.
    struct Entry: Sendable {
        let labels: [String]  // client_id, component, source, level
        let timestampNanoseconds: Int64
        let line: String
    }

    public mutating func encode(_ batches: [SpoolBatch]) -> [OutgoingRequest] {
        var requests: [OutgoingRequest] = []
        var pending: [Entry] = []
        var pendingBytes = 0
        for item in batches {
            for entry in Self.entries(of: item.batch) {
                pending.append(entry)
                pendingBytes += entry.line.utf8.count + 64
                if pendingBytes >= targetBodyBytes {
                    requests += pushes(of: pending, acknowledging: nil)
                    pending.removeAll(keepingCapacity: true)
                    pendingBytes = 0
                }
            }
            if pendingBytes >= targetBodyBytes / 2 {
                requests += pushes(of: pending, acknowledging: item.sequence)
                pending.removeAll(keepingCapacity: true)
                pendingBytes = 0
            }
        }
        if !pending.isEmpty { requests += pushes(of: pending, acknowledging: batches.last?.sequence) }
        return requests
    }

    /// The names of `Entry.labels`, in order; an empty value is left out of the stream.
    static let streamLabelNames = ["client_id", "component", "source", "level"]

    /// What a batch becomes at Loki, entry by entry: the stream's labels, the time (ns) and the
    /// line. For accounting what arrived (the soak); the pushes are built from the same entries.
    public static func streamEntries(
        of batch: ResourceWatcher_V1_Batch
    ) -> [(stream: [String: String], timestampNanoseconds: Int64, line: String)] {
        entries(of: batch).map { entry in
            var stream: [String: String] = [:]
            for (name, value) in zip(streamLabelNames, entry.labels) where !value.isEmpty { stream[name] = value }
            return (stream, entry.timestampNanoseconds, entry.line)
        }
    }

    /// The log lines a batch holds: its log records, then its alert transitions.
    static func entries(of batch: ResourceWatcher_V1_Batch) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(batch.logs.count + batch.transitions.count)
        for record in batch.logs {
            let labels = [
                record.clientID, record.component.isEmpty ? "resource-watcher" : record.component,
                record.source.isEmpty ? "agent" : record.source, record.level.apiName,
            ]
            entries.append(Entry(labels: labels, timestampNanoseconds: record.timestampUnixNs, line: line(for: record)))
        }
        for transition in batch.transitions {
            let alert = transition.alert
            let firing = transition.state == .firing
            let labels = [alert.clientID, alert.component, "alert", firing ? alert.severity.apiName : "info"]
            var json = JSONWriter()
            json.beginObject()
            json.member("event", "alert")
            json.member("state", firing ? "firing" : "resolved")
            json.member("alert_type", alert.alertType.apiName)
            json.member("severity", alert.severity.apiName)
            json.key("value")
            json.number(Double(alert.valueCenti) / 100)
            json.key("threshold")
            json.number(Double(alert.thresholdCenti) / 100)
            json.member("message", alert.message)
            json.endObject()
            entries.append(
                Entry(
                    labels: labels,
                    timestampNanoseconds: transition.atUnixMs * 1_000_000,
                    line: String(decoding: json.bytes, as: UTF8.self)
                )
            )
        }
        return entries
    }

    /// The record's message, its metadata appended logfmt-style, cut to `maxLineBytes`.
    static func line(for record: ResourceWatcher_V1_LogRecord) -> String {
        var line = record.message
        for key in record.metadata.keys.sorted() {
            line += " " + key + "=" + logfmtValue(record.metadata[key]!)
        }
        return truncated(line)
    }

    /// `line` unchanged when it fits in `maxLineBytes`; else cut on a character boundary and flagged.
    static func truncated(_ line: String) -> String {
        let length = line.utf8.count
        guard length > maxLineBytes else { return line }
        let flag = " …[truncated \(length) bytes]"
        var kept = maxLineBytes - flag.utf8.count
        let utf8 = Array(line.utf8)
        // Back up over continuation bytes (10xxxxxx) so the cut falls between characters.
        while kept > 0 && utf8[kept] & 0xC0 == 0x80 { kept -= 1 }
        return String(decoding: utf8[..<kept], as: UTF8.self) + flag
    }

    private static func logfmtValue(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty || value.utf8.contains { $0 <= 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "=") }
        guard needsQuotes else { return value }
        var quoted = "\""
        for character in value.unicodeScalars {
            switch character {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            default: quoted.unicodeScalars.append(character)
            }
        }
        return quoted + "\""
    }

    /// One push per tenant (or one for all), streams in first-seen order, entries sorted by time.
    /// The pushes of `entries` in two halves (each split again if still too large), for a 413;
    /// nil for a single entry.
    private func halves(of entries: [Entry]) -> (@Sendable () -> [OutgoingRequest])? {
        guard entries.count > 1 else { return nil }
        let encoder = self
        return { @Sendable () -> [OutgoingRequest] in
            let middle = entries.count / 2
            return encoder.pushes(of: Array(entries[..<middle]), acknowledging: nil)
                + encoder.pushes(of: Array(entries[middle...]), acknowledging: nil)
        }
    }

    private func pushes(of entries: [Entry], acknowledging sequence: UInt64?) -> [OutgoingRequest] {
        var tenantOrder: [String] = []
        var byTenant: [String: [Entry]] = [:]
        for entry in entries {
            let tenant = tenantHeader ? entry.labels[0] : ""
            if byTenant[tenant] == nil { tenantOrder.append(tenant) }
            byTenant[tenant, default: []].append(entry)
        }
        var requests: [OutgoingRequest] = []
        for tenant in tenantOrder {
            let tenantEntries = byTenant[tenant]!
            var streamOrder: [[String]] = []
            var streams: [[String]: [Entry]] = [:]
            for entry in tenantEntries {
                if streams[entry.labels] == nil { streamOrder.append(entry.labels) }
                streams[entry.labels, default: []].append(entry)
            }
            var json = JSONWriter(reservingCapacity: tenantEntries.reduce(64) { $0 + $1.line.utf8.count + 48 })
            json.beginObject()
            json.key("streams")
            json.beginArray()
            for labels in streamOrder {
                json.beginObject()
                json.key("stream")
                json.beginObject()
                for (name, value) in zip(Self.streamLabelNames, labels) where !value.isEmpty {
                    json.member(name, value)
                }
                json.endObject()
                json.key("values")
                json.beginArray()
                // Stable: equal timestamps keep their order.
                let sorted = streams[labels]!.enumerated().sorted {
                    ($0.element.timestampNanoseconds, $0.offset) < ($1.element.timestampNanoseconds, $1.offset)
                }
                for (_, entry) in sorted {
                    json.beginArray()
                    json.string(String(entry.timestampNanoseconds))
                    json.string(entry.line)
                    json.endArray()
                }
                json.endArray()
                json.endObject()
            }
            json.endArray()
            json.endObject()
            var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
            if tenantHeader { headers.append(("X-Scope-OrgID", tenant)) }
            let oldest = tenantEntries.map(\.timestampNanoseconds).min() ?? 0
            requests.append(
                OutgoingRequest(
                    request: HTTPRequest(method: .post, url: pushURL, headers: headers, body: json.bytes),
                    itemCount: tenantEntries.count,
                    acknowledgeThrough: nil,
                    oldestUnixMilliseconds: oldest / 1_000_000,
                    split: halves(of: tenantEntries)
                )
            )
        }
        if !requests.isEmpty { requests[requests.count - 1].acknowledgeThrough = sequence }
        return requests
    }
}
