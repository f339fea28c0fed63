/// The counters of one `GET /containers/{id}/stats?stream=false&one-shot=true` document that the
/// `docker stats` formulas use, flattened. Counters are cumulative; the calculator takes deltas.
///
/// A stopped container's document has `read` "0001-01-01T00:00:00Z", an empty `memory_stats` and
/// zero CPU counters; fields the engine leaves out (cgroup v1 vs v2, no networking) are nil or empty.
struct DockerStats: Sendable, Equatable {
    /// When the engine read the counters (RFC 3339).
    var read: String?
    /// `cpu_stats.cpu_usage.total_usage`: the container's CPU time, nanoseconds.
    var cpuTotalUsageNanoseconds: UInt64
    /// `cpu_stats.system_cpu_usage`: the host's CPU time summed over all CPUs, nanoseconds.
    var systemCPUUsageNanoseconds: UInt64?
    /// `cpu_stats.online_cpus`, or for older engines the length of `percpu_usage`.
    var onlineCPUs: Int?
    /// `memory_stats.usage`, bytes (page cache included).
    var memoryUsageBytes: UInt64?
    /// `memory_stats.limit`, bytes (the host's memory when the container has no limit).
    var memoryLimitBytes: UInt64?
    /// `memory_stats.stats`: cgroup v1 keys (`total_inactive_file`, `cache`, …) or v2 keys
    /// (`inactive_file`, `anon`, …).
    var memoryStatistics: [String: UInt64]
    /// Per interface (`networks`), cumulative bytes.
    var networks: [String: NetworkBytes]
    /// `blkio_stats.io_service_bytes_recursive` summed over devices by op ("Read"/"read").
    var blockReadBytes: UInt64
    var blockWriteBytes: UInt64
    /// `pids_stats.current`.
    var processCount: UInt64?
    /// `precpu_stats`: the engine's previous reading, present (non-zero) when stats were
    /// requested without `one-shot`; zero with one-shot.
    var previousCPUTotalUsageNanoseconds: UInt64 = 0
    var previousSystemCPUUsageNanoseconds: UInt64? = nil

    struct NetworkBytes: Sendable, Equatable, Decodable {
        var receivedBytes: UInt64
        var transmittedBytes: UInt64

        private enum CodingKeys: String, CodingKey {
            case receivedBytes = "rx_bytes"
            case transmittedBytes = "tx_bytes"
        }
    }

    /// `read` in Unix nanoseconds; nil when absent or the zero time of a stopped container.
    var readUnixNanoseconds: Int64? {
        guard let read, let nanoseconds = DockerLogStream.parseTimestamp(Array(read.utf8)), nanoseconds > 0 else {
            return nil
        }
        return nanoseconds
    }

    /// Received and transmitted bytes summed over every interface.
    var networkTotals: (received: UInt64, transmitted: UInt64) {
        networks.values.reduce((0, 0)) { ($0.0 &+ $1.receivedBytes, $0.1 &+ $1.transmittedBytes) }
    }
}

extension DockerStats: Decodable {
    init(from decoder: any Decoder) throws {
        let document = try StatsDocument(from: decoder)
        read = document.read
        cpuTotalUsageNanoseconds = document.cpu_stats?.cpu_usage?.total_usage ?? 0
        systemCPUUsageNanoseconds = document.cpu_stats?.system_cpu_usage
        onlineCPUs =
            document.cpu_stats?.online_cpus.flatMap { $0 > 0 ? $0 : nil }
            ?? document.cpu_stats?.cpu_usage?.percpu_usage.flatMap { $0.isEmpty ? nil : $0.count }
        memoryUsageBytes = document.memory_stats?.usage
        memoryLimitBytes = document.memory_stats?.limit
        memoryStatistics = document.memory_stats?.stats?.values ?? [:]
        networks = document.networks ?? [:]
        var read: UInt64 = 0
        var written: UInt64 = 0
        for entry in document.blkio_stats?.io_service_bytes_recursive ?? [] {
            switch entry.op?.lowercased() {
            case "read": read &+= entry.value ?? 0
            case "write": written &+= entry.value ?? 0
            default: break
            }
        }
        blockReadBytes = read
        blockWriteBytes = written
        processCount = document.pids_stats?.current
        previousCPUTotalUsageNanoseconds = document.precpu_stats?.cpu_usage?.total_usage ?? 0
        previousSystemCPUUsageNanoseconds = document.precpu_stats?.system_cpu_usage
    }
}

/// The stats document as the engine spells it; every field optional, as a stopped container's
/// document and the v1/v2 differences leave many out or null.
private struct StatsDocument: Decodable {
    struct CPUStats: Decodable {
        struct Usage: Decodable {
            var total_usage: UInt64?
            var percpu_usage: [UInt64]?
        }
        var cpu_usage: Usage?
        var system_cpu_usage: UInt64?
        var online_cpus: Int?
    }
    struct MemoryStats: Decodable {
        var usage: UInt64?
        var limit: UInt64?
        var stats: LenientCounters?
    }
    struct BlockIOStats: Decodable {
        struct Entry: Decodable {
            var op: String?
            var value: UInt64?
        }
        var io_service_bytes_recursive: [Entry]?
    }
    struct PIDStats: Decodable {
        var current: UInt64?
    }

    var read: String?
    var cpu_stats: CPUStats?
    var precpu_stats: CPUStats?
    var memory_stats: MemoryStats?
    var networks: [String: DockerStats.NetworkBytes]?
    var blkio_stats: BlockIOStats?
    var pids_stats: PIDStats?
}

/// A JSON object of counters that keeps every value that is a non-negative integer and skips
/// the rest, so one odd key (a future float, a negative) cannot fail the whole document.
private struct LenientCounters: Decodable {
    var values: [String: UInt64] = [:]

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        for key in container.allKeys {
            if let value = try? container.decode(UInt64.self, forKey: key) { values[key.stringValue] = value }
        }
    }
}
