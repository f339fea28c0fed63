import Foundation  // JSONSerialization: the stand-ins' and Prometheus' answers
import Shipper
import Spool
import SwiftProtobuf
import TestSupport
import WatcherProto

/// What the agent counted as given up on, summed over its runs (each run's counters start at
/// zero, so the soak reads them just before every `kill -9` and at the end).
struct AgentCounters {
    /// Sink → reason → requests the destination refused and the agent dropped.
    var droppedRequests: [String: [String: Int]] = [:]
    /// Sink → spool records it never read (deleted by the cap first, or damaged).
    var lostRecords: [String: Int] = [:]
    /// Appends the spool refused (disk full, I/O error): records never acknowledged.
    var droppedAppends = 0

    init() {}

    /// The counters in an agent's `/health` document.
    init(health: [String: Any]) {
        droppedAppends = (health["spool"] as? [String: Any])?["dropped_appends"] as? Int ?? 0
        for sink in health["sinks"] as? [[String: Any]] ?? [] {
            let name = sink["name"] as? String ?? "?"
            droppedRequests[name] = sink["dropped_requests"] as? [String: Int] ?? [:]
            lostRecords[name] = sink["lost_records"] as? Int ?? 0
        }
    }

    mutating func add(_ other: AgentCounters) {
        droppedAppends += other.droppedAppends
        for (sink, reasons) in other.droppedRequests {
            droppedRequests[sink, default: [:]].merge(reasons, uniquingKeysWith: +)
        }
        lostRecords.merge(other.lostRecords, uniquingKeysWith: +)
    }

    /// Drop reasons that repeat what the destination already holds (a resend after `kill -9`).
    static let repeatReasons: Set<String> = ["out_of_order", "duplicate"]
}

/// Per destination: each record the spool acknowledged, expanded into the items the sink makes
/// of it (by the sink's own encoder), looked up in what the destination holds.
struct RecordAccount {
    let sink: String
    let itemName: String
    /// Records of the kinds this sink ships; those that became at least one item.
    var records = 0
    var recordsWithItems = 0
    var items = 0
    var delivered = 0
    var missingRecords: [UInt64] = []
    var missingItems = 0

    /// Missing records not explained by a loss the agent counted (cap, damage, refused data).
    func uncounted(given counters: AgentCounters) -> Int {
        let refused = (counters.droppedRequests[sink] ?? [:])
            .filter { !AgentCounters.repeatReasons.contains($0.key) }.values.reduce(0, +)
        return max(0, missingRecords.count - (counters.lostRecords[sink] ?? 0) - refused)
    }

    /// Counts `records` (decoded batches by sequence) against `held`, the keys of what arrived.
    static func count(
        sink: String,
        itemName: String,
        batches: [(sequence: UInt64, batch: ResourceWatcher_V1_Batch)],
        itemKeys: (UInt64, ResourceWatcher_V1_Batch) -> [String],
        held: Set<String>
    ) -> RecordAccount {
        var account = RecordAccount(sink: sink, itemName: itemName)
        for (sequence, batch) in batches {
            account.records += 1
            let keys = itemKeys(sequence, batch)
            guard !keys.isEmpty else { continue }
            account.recordsWithItems += 1
            account.items += keys.count
            let absent = keys.filter { !held.contains($0) }.count
            if absent == 0 {
                account.delivered += 1
            } else {
                account.missingRecords.append(sequence)
                account.missingItems += absent
            }
        }
        return account
    }
}

extension Soak {
    /// Every record the watch saw, decoded; the sequences that did not decode.
    func decodedRecords(
        of kinds: Set<RecordKind>
    ) -> (batches: [(sequence: UInt64, batch: ResourceWatcher_V1_Batch)], undecodable: [UInt64]) {
        var batches: [(sequence: UInt64, batch: ResourceWatcher_V1_Batch)] = []
        var undecodable: [UInt64] = []
        for sequence in watch.records.keys.sorted() {
            let record = watch.records[sequence]!
            guard kinds.contains(record.kind) else { continue }
            if let batch = try? ResourceWatcher_V1_Batch(serializedBytes: record.payload) {
                batches.append((sequence, batch))
            } else {
                undecodable.append(sequence)
            }
        }
        return (batches, undecodable)
    }

    /// Labels without `instance` and `job` (the receiver adds nothing; the soak's encoder
    /// does not know the agent's host name), sorted, as one string.
    private static func seriesKey(_ labels: [(String, String)]) -> String {
        labels.filter { $0.0 != "instance" && $0.0 != "job" }.sorted { $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }.joined(separator: ",")
    }

    /// Every sample Prometheus holds from the agent: series key and Unix ms.
    func prometheusHeld() async throws -> Set<String> {
        let window = Int(minutes) + 15
        var held = Set<String>()
        for item in try await prometheus.query(#"{job="resource-watcher"}[\#(window)m]"#) {
            let labels = (item["metric"] as? [String: String] ?? [:]).map { ($0.key, $0.value) }
            let series = Self.seriesKey(labels)
            for value in item["values"] as? [[Any]] ?? [] {
                guard let seconds = value.first as? Double else { continue }
                held.insert(series + "@" + String(Int64((seconds * 1000).rounded())))
            }
        }
        return held
    }

    /// The samples a batch becomes in remote-write (staleness markers aside: a range query
    /// does not return them).
    static func remoteWriteKeys(of batch: ResourceWatcher_V1_Batch) -> [String] {
        var keys: [String] = []
        for request in RemoteWriteEncoder(instance: "soak").requests(for: [batch]) {
            for series in request.timeseries {
                let name = seriesKey(series.labels.map { ($0.name, $0.value) })
                for sample in series.samples
                where sample.value.bitPattern != RemoteWriteEncoder.staleMarker.bitPattern {
                    keys.append(name + "@" + String(sample.timestamp))
                }
            }
        }
        return keys
    }

    static func lokiKey(stream: [String: String], nanoseconds: String, line: String) -> String {
        stream.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "@" + nanoseconds
            + "|" + line
    }

    /// Every entry the Loki stand-in accepted, as `lokiKey`s.
    static func lokiHeld(_ accepted: [String: Any]) -> Set<String> {
        var held = Set<String>()
        for stream in accepted["streams"] as? [[String: Any]] ?? [] {
            let labels = stream["labels"] as? [String: String] ?? [:]
            for entry in stream["entries"] as? [[Any]] ?? [] {
                guard let time = entry.first as? String, let line = entry.last as? String else { continue }
                held.insert(lokiKey(stream: labels, nanoseconds: time, line: line))
            }
        }
        return held
    }

    static func lokiKeys(of batch: ResourceWatcher_V1_Batch) -> [String] {
        LokiSink.streamEntries(of: batch).map {
            lokiKey(stream: $0.stream, nanoseconds: String($0.timestampNanoseconds), line: $0.line)
        }
    }

    /// The idempotency keys of every alert the orchestrator stand-in stored.
    static func orchestratorHeld(_ accepted: [String: Any]) -> Set<String> {
        Set((accepted["alerts"] as? [[String: Any]] ?? []).compactMap { $0["idempotency_key"] as? String })
    }
}
