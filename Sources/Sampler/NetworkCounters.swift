/// Byte counters of a network namespace, as seen through one of its processes.
struct NetworkCounters: Equatable {
    /// Identity of the namespace ("net:[4026531840]").
    let namespace: String
    let receivedBytes: UInt64
    let transmittedBytes: UInt64

    /// Reads `/proc/<pid>/net/dev` (which shows the namespace of `pid`), summing every
    /// interface but loopback, whose traffic never leaves the namespace.
    /// `cache` holds the counters already read this tick, by namespace.
    /// `namespace`, when the caller knows it, saves reading the link.
    static func read(
        pid: Int32,
        reader: any ProcReader,
        root: String = "/proc",
        namespace known: String? = nil,
        cache: inout [String: NetworkCounters]
    )
        -> NetworkCounters?
    {
        guard let namespace = known ?? reader.linkTarget(of: "\(root)/\(pid)/ns/net") else { return nil }
        if let cached = cache[namespace] { return cached }
        guard let bytes = reader.freshContents(of: "\(root)/\(pid)/net/dev") else { return nil }
        let (received, transmitted) = parseDevices(bytes)
        let counters = NetworkCounters(namespace: namespace, receivedBytes: received, transmittedBytes: transmitted)
        cache[namespace] = counters
        return counters
    }

    /// Sums receive bytes (first column) and transmit bytes (ninth column) of /proc/net/dev,
    /// skipping `lo`.
    static func parseDevices(_ bytes: [UInt8]) -> (received: UInt64, transmitted: UInt64) {
        var received: UInt64 = 0
        var transmitted: UInt64 = 0
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self).trimmingWhitespace
            guard name != "lo" else { continue }
            let fields = line[(colon + 1)...].split(separator: UInt8(ascii: " ")).map {
                UInt64(String(decoding: $0, as: UTF8.self)) ?? 0
            }
            guard fields.count >= 9 else { continue }
            received &+= fields[0]
            transmitted &+= fields[8]
        }
        return (received, transmitted)
    }
}
