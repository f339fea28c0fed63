import Synchronization
import WatcherModel
public import WatcherProto

#if canImport(Glibc)
import Glibc
#endif

/// The machine itself as the component `host` (DESIGN §5), in the units of any component:
/// CPU busy share of all cores over the last interval (`/proc/stat`, as `top` and psutil count
/// it: everything but idle and iowait), memory in use (MemTotal − MemAvailable, the share of
/// MemTotal), disk used on the filesystems holding the spool and the components' data paths
/// (each filesystem once; the fullest one's used percent raises `high_disk_usage`), network of
/// the host's namespace without loopback, and the load averages.
public final class HostSampler: Sendable {
    private let reader: any ProcReader
    private let clientID: String
    /// Paths whose filesystems count as the host's disk: the spool directory first.
    private let diskPaths: [String]
    /// CPU counters and network counters at the previous sample, and when it was taken.
    private let previous = Mutex<Previous?>(nil)

    private struct Previous {
        let cpu: CPUTimes
        let network: (received: UInt64, transmitted: UInt64)?
        let at: ContinuousClock.Instant
    }

    /// The jiffies of the `cpu` line of `/proc/stat`: all of them, and the busy ones.
    struct CPUTimes: Equatable {
        let total: UInt64
        let busy: UInt64
    }

    /// Disk figures of the host's filesystems.
    struct DiskFigures: Equatable {
        let usedBytes: UInt64
        /// Used share of the fullest filesystem, as `df` counts it (used of used + available).
        let usedPercent: Double
    }

    /// A sampler reporting under `clientID`, whose disk is that of the filesystems holding
    /// `diskPaths` (paths that do not exist yet are skipped).
    public init(clientID: String, diskPaths: [String], reader: any ProcReader = LiveProcReader()) {
        self.reader = reader
        self.clientID = clientID
        self.diskPaths = diskPaths
    }

    /// The host's sample and its disk used percent (for `high_disk_usage`; nil when no path's
    /// filesystem could be read). CPU and network rates start on the second call. Blocking
    /// (reads /proc, statvfs): call from the sampler's I/O thread.
    public func sample(
        now: ContinuousClock.Instant = .now
    ) -> (
        sample: ResourceWatcher_V1_ComponentSample, diskUsedPercent: Double?
    ) {
        var sample = ResourceWatcher_V1_ComponentSample()
        sample.name = "host"
        sample.clientID = clientID
        sample.status = .healthy
        sample.networkHostWide = true
        let cpu = reader.freshContents(of: "/proc/stat").flatMap(Self.parseCPUTimes)
        let network = Self.networkCounters(reader: reader)
        previous.withLock { previous in
            defer { previous = cpu.map { Previous(cpu: $0, network: network, at: now) } }
            guard let before = previous else { return }
            if let cpu, cpu.total > before.cpu.total, cpu.busy >= before.cpu.busy {
                let percent = Double(cpu.busy - before.cpu.busy) / Double(cpu.total - before.cpu.total) * 100
                sample.cpuUsageCentipercent = OutsideNumber.centipercent(percent)
            }
            let seconds = (now - before.at).inSeconds
            if let network, let earlier = before.network, seconds > 0 {
                sample.networkInBytesPerSecond = ProcessComponentSampler.rate(
                    earlier.received,
                    network.received,
                    seconds
                )
                sample.networkOutBytesPerSecond = ProcessComponentSampler.rate(
                    earlier.transmitted,
                    network.transmitted,
                    seconds
                )
            }
        }
        if let memory = reader.freshContents(of: "/proc/meminfo").flatMap(Self.parseMemory) {
            sample.memoryUsageKib = memory.usedBytes / 1024
            if memory.totalBytes > 0 {
                sample.memoryUsageCentipercent = UInt32(
                    min(1, Double(memory.usedBytes) / Double(memory.totalBytes)) * 10_000 + 0.5
                )
            }
        }
        if let load = reader.freshContents(of: "/proc/loadavg").flatMap(Self.parseLoadAverage) {
            sample.loadAverage = load
        }
        let disk = Self.diskFigures(of: diskPaths)
        if let disk { sample.diskUsageKib = disk.usedBytes / 1024 }
        return (sample, disk?.usedPercent)
    }

    /// Bytes received and sent by every interface but loopback in the host's namespace: that of
    /// PID 1 when the agent sees the host's processes; its own otherwise (the best it can see).
    static func networkCounters(reader: any ProcReader) -> (received: UInt64, transmitted: UInt64)? {
        (reader.freshContents(of: "/proc/1/net/dev") ?? reader.freshContents(of: "/proc/self/net/dev"))
            .map(NetworkCounters.parseDevices)
    }

    /// The `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal guest
    /// guest_nice. Guest time is already inside user and nice, so it is not added again; busy is
    /// everything but idle and iowait.
    static func parseCPUTimes(_ bytes: [UInt8]) -> CPUTimes? {
        guard bytes.starts(with: Array("cpu ".utf8)) else { return nil }
        let lineEnd = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        let fields = ProcBytes.numbers(bytes[4..<lineEnd], limit: 10)
        guard fields.count >= 4 else { return nil }
        let total = fields.prefix(8).reduce(0, &+)
        let idle = fields[3] &+ (fields.count > 4 ? fields[4] : 0)
        return CPUTimes(total: total, busy: total - min(total, idle))
    }

    /// MemTotal and MemTotal − MemAvailable of `/proc/meminfo`, in bytes.
    static func parseMemory(_ bytes: [UInt8]) -> (totalBytes: UInt64, usedBytes: UInt64)? {
        guard let totalKiB = ProcBytes.keyedNumber(bytes, key: "MemTotal:"),
            let availableKiB = ProcBytes.keyedNumber(bytes, key: "MemAvailable:")
        else { return nil }
        return (totalKiB * 1024, (totalKiB - min(totalKiB, availableKiB)) * 1024)
    }

    /// The three averages at the start of `/proc/loadavg` ("0.52 0.58 0.59 1/467 12345").
    static func parseLoadAverage(_ bytes: [UInt8]) -> ResourceWatcher_V1_LoadAverage? {
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ").prefix(3).compactMap {
            Double($0)
        }
        guard fields.count == 3 else { return nil }
        var load = ResourceWatcher_V1_LoadAverage()
        load.oneMinute = fields[0]
        load.fiveMinutes = fields[1]
        load.fifteenMinutes = fields[2]
        return load
    }

    /// Used bytes summed over the distinct filesystems holding `paths`, and the fullest one's
    /// used percent; nil when none could be read.
    static func diskFigures(of paths: [String]) -> DiskFigures? {
        var seenDevices = Set<UInt64>()
        var usedBytes: UInt64 = 0
        var fullest: Double?
        for path in paths {
            var info = stat()
            var fileSystem = statvfs()
            guard stat(path, &info) == 0, statvfs(path, &fileSystem) == 0 else { continue }
            guard seenDevices.insert(UInt64(info.st_dev)).inserted else { continue }
            let used = UInt64(fileSystem.f_blocks - fileSystem.f_bfree) * UInt64(fileSystem.f_frsize)
            usedBytes += used
            let usable = Double(fileSystem.f_blocks - fileSystem.f_bfree) + Double(fileSystem.f_bavail)
            if usable > 0 {
                fullest = max(fullest ?? 0, Double(fileSystem.f_blocks - fileSystem.f_bfree) / usable * 100)
            }
        }
        return fullest.map { DiskFigures(usedBytes: usedBytes, usedPercent: $0) }
    }
}
