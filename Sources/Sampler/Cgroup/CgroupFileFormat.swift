/// Parsers for the cgroup interface files, v1 and v2. Each takes the raw bytes and returns nil
/// (or skips a line) on anything unexpected: a container can vanish mid-read and kernels differ,
/// so bad input must cost a figure, never the tick.
enum CgroupFileFormat {
    /// v1 `memory.limit_in_bytes` reads as PAGE_COUNTER_MAX × page size (9223372036854771712 on
    /// 4 KiB pages) when unlimited; anything this large is no real limit.
    static let unlimitedMemoryThreshold: UInt64 = 1 << 62

    /// A file holding one unsigned number ("123\n"): memory.current, cpuacct.usage, ….
    static func number(_ bytes: [UInt8]?) -> UInt64? {
        guard let bytes else { return nil }
        return UInt64(trimmed(bytes))
    }

    /// "key value" lines (memory.stat, cpu.stat); lines that do not parse are left out.
    static func keyedNumbers(_ bytes: [UInt8]?) -> [String: UInt64] {
        var values: [String: UInt64] = [:]
        for line in lines(bytes) {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let value = UInt64(fields[1]) else { continue }
            values[String(fields[0])] = value
        }
        return values
    }

    /// v2 `cpu.max`: "quota period", where quota "max" means unlimited.
    static func cpuMaxCores(_ bytes: [UInt8]?) -> Double? {
        guard let bytes else { return nil }
        let fields = trimmed(bytes).split(separator: " ")
        guard fields.count == 2, let quota = UInt64(fields[0]), let period = UInt64(fields[1]) else { return nil }
        return cores(quota: quota, period: period)
    }

    /// v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`; a quota of -1 means unlimited.
    static func cfsCores(quota quotaBytes: [UInt8]?, period periodBytes: [UInt8]?) -> Double? {
        guard let quotaBytes, let periodBytes,
            let quota = Int64(trimmed(quotaBytes)), quota > 0,
            let period = UInt64(trimmed(periodBytes))
        else { return nil }
        return cores(quota: UInt64(quota), period: period)
    }

    /// v2 `memory.max`: a byte count, or "max" when unlimited.
    static func memoryMax(_ bytes: [UInt8]?) -> UInt64? {
        number(bytes)
    }

    /// v1 `memory.limit_in_bytes`, nil when it is the "unlimited" sentinel.
    static func v1MemoryLimit(_ bytes: [UInt8]?) -> UInt64? {
        guard let limit = number(bytes), limit < unlimitedMemoryThreshold else { return nil }
        return limit
    }

    /// Usage less the inactive file cache, as docker's calculateMemUsageUnixNoCache: the cache
    /// is subtracted only when it is smaller than the usage (the two are read at different
    /// instants, so it can briefly exceed it).
    static func usageWithoutInactiveFile(usage: UInt64, inactiveFile: UInt64?) -> UInt64 {
        guard let inactiveFile, inactiveFile < usage else { return usage }
        return usage - inactiveFile
    }

    /// v2 `io.stat`: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device,
    /// summed over devices. An empty file (no I/O yet) is zero, not missing.
    static func ioStatBytes(_ bytes: [UInt8]?) -> (read: UInt64, write: UInt64)? {
        guard bytes != nil else { return nil }
        var read: UInt64 = 0
        var write: UInt64 = 0
        for line in lines(bytes) {
            let fields = line.split(separator: " ")
            guard let device = fields.first, isDevice(device) else { continue }
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, let value = UInt64(pair[1]) else { continue }
                switch pair[0] {
                case "rbytes": read = saturatingSum(read, value)
                case "wbytes": write = saturatingSum(write, value)
                default: break
                }
            }
        }
        return (read, write)
    }

    /// v1 `blkio.throttle.io_service_bytes`: "MAJ:MIN Op N" per device and operation (Read,
    /// Write, Sync, Async, Discard, Total), then "Total N". Only Read and Write are summed: the
    /// other operations count the same bytes again.
    static func blkioServiceBytes(_ bytes: [UInt8]?) -> (read: UInt64, write: UInt64)? {
        guard bytes != nil else { return nil }
        var read: UInt64 = 0
        var write: UInt64 = 0
        for line in lines(bytes) {
            let fields = line.split(separator: " ")
            guard fields.count == 3, isDevice(fields[0]), let value = UInt64(fields[2]) else { continue }
            switch fields[1] {
            case "Read": read = saturatingSum(read, value)
            case "Write": write = saturatingSum(write, value)
            default: break
            }
        }
        return (read, write)
    }

    // MARK: - Helpers

    private static func cores(quota: UInt64, period: UInt64) -> Double? {
        guard period > 0 else { return nil }
        return Double(quota) / Double(period)
    }

    /// "8:0": major and minor device numbers. Guards against summing the v1 "Total" line.
    private static func isDevice(_ field: Substring) -> Bool {
        let numbers = field.split(separator: ":", omittingEmptySubsequences: false)
        return numbers.count == 2 && numbers.allSatisfy { UInt32($0) != nil }
    }

    private static func saturatingSum(_ left: UInt64, _ right: UInt64) -> UInt64 {
        let (sum, overflow) = left.addingReportingOverflow(right)
        return overflow ? .max : sum
    }

    private static func lines(_ bytes: [UInt8]?) -> [Substring] {
        guard let bytes else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
    }

    private static func trimmed(_ bytes: [UInt8]) -> Substring {
        let text = String(decoding: bytes, as: UTF8.self)
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text.lastIndex { !$0.isWhitespace }.map { text.index(after: $0) } ?? start
        return text[start..<end]
    }
}
