import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Reads running containers' figures from the kernel, with no engine call: the container's
/// cgroup (found from its main process's `/proc/<pid>/cgroup`; v1, v2 and the hybrid layout,
/// cgroupfs and systemd drivers alike, see `CgroupReader`) gives CPU time, memory without the
/// inactive file cache, block I/O, the task count and the CPU and memory limits. Rates are
/// against this reader's previous reading of the same container, over the wall time between.
///
/// Blocking (file reads): call it on an I/O thread. Files are read through
/// `ProcReader.freshContents(of:)`: a live reader keeps them open between ticks.
final class ContainerKernelReader: Sendable {
    /// A running container and its main process, as the engine last named it.
    struct Target: Sendable, Equatable {
        var containerID: String
        var pid: Int32
    }

    /// One container's figures at one reading.
    struct Figures: Sendable, Equatable {
        /// The cgroup's counters and limits as read (cumulative CPU time and I/O bytes).
        var cgroup: CgroupFigures
        /// Percent of the CPU limit in cores, else of every online CPU (README, Units), since the
        /// previous reading; nil on the first.
        var cpuPercentOfCapacity: Double?
        /// Of the memory limit, else of the host's MemTotal.
        var memoryPercent: Double?
        var ioReadBytesPerSecond: Double?
        var ioWriteBytesPerSecond: Double?
    }

    /// What the kernel says of one container.
    enum Outcome: Sendable, Equatable {
        case figures(Figures)
        /// The main process is gone.
        case processGone
        /// The process is there but its cgroup's files cannot be read (no access to the host's
        /// cgroup tree, another cgroup namespace): the caller asks the engine's stats instead.
        case cgroupUnreadable(String)
    }

    private struct Previous {
        var pid: Int32
        var cpuNanoseconds: UInt64?
        var readBytes: UInt64?
        var writeBytes: UInt64?
        var at: ContinuousClock.Instant
    }

    let reader: any ProcReader
    let mountRoot: String
    /// The host's online CPUs: the capacity of a container without a CPU limit.
    let onlineCPUs: Double
    /// The host's MemTotal: what the memory percentage of a container without a limit is of.
    let hostMemoryBytes: UInt64?
    /// The time of a reading (tests drive it).
    let clock: @Sendable () -> ContinuousClock.Instant
    private let previous = Mutex<[String: Previous]>([:])

    init(
        reader: any ProcReader,
        mountRoot: String = "/sys/fs/cgroup",
        onlineCPUs: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
        hostMemoryBytes: UInt64? = nil,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.clock = clock
        self.reader = reader
        self.mountRoot = mountRoot
        self.onlineCPUs = Double(max(1, onlineCPUs))
        self.hostMemoryBytes =
            hostMemoryBytes
            ?? reader.contents(of: "/proc/meminfo").flatMap { ProcBytes.keyedNumber($0, key: "MemTotal:") }.map {
                $0.multipliedReportingOverflow(by: 1024).partialValue
            }
    }

    /// Each target's outcome, by container ID. Unless `keepingOthers` (a second reading in the
    /// same tick), containers not among `targets` are forgotten (their next reading starts the
    /// rates afresh).
    func read(_ targets: [Target], keepingOthers: Bool = false) -> [String: Outcome] {
        var outcomes: [String: Outcome] = [:]
        var readings: [String: Previous] = [:]
        let before = previous.withLock { $0 }
        for target in targets {
            let (outcome, reading) = read(target, previous: before[target.containerID])
            outcomes[target.containerID] = outcome
            readings[target.containerID] = reading
        }
        previous.withLock { previous in
            if keepingOthers {
                previous.merge(readings) { _, new in new }
                for target in targets where readings[target.containerID] == nil { previous[target.containerID] = nil }
            } else {
                previous = readings
            }
        }
        return outcomes
    }

    private func read(_ target: Target, previous: Previous?) -> (Outcome, Previous?) {
        guard let cgroupFile = reader.freshContents(of: "/proc/\(target.pid)/cgroup") else {
            // No cgroup file: the process is gone, unless /proc hides it from the agent.
            return reader.contents(of: "/proc/\(target.pid)/stat") == nil
                ? (.processGone, nil) : (.cgroupUnreadable("/proc/\(target.pid)/cgroup cannot be read"), nil)
        }
        let membership = CgroupMembership(procCgroupFile: cgroupFile)
        // cgroupfs names the cgroup after the ID (/docker/<id>), systemd after it (docker-<id>.scope).
        let paths = [membership.unifiedPath].compactMap { $0 } + membership.controllers.values.map(\.path)
        // A process in no cgroup of the container's: another cgroup namespace or naming (the
        // engine's stats know), or a PID taken by another process (the engine's events tell).
        guard paths.contains(where: { $0.contains(target.containerID) }) else {
            return (.cgroupUnreadable("the cgroup of PID \(target.pid) does not name the container"), nil)
        }
        let figures = CgroupReader.figures(
            for: membership,
            reader: reader,
            mountRoot: mountRoot,
            includingProcessCount: true,
            everyTick: true
        )
        let now = clock()
        guard figures.cpuUsageNanoseconds != nil || figures.memoryUsageBytes != nil else {
            return (.cgroupUnreadable("no CPU or memory figures under \(mountRoot) for \(paths.first ?? "?")"), nil)
        }
        var result = Figures(cgroup: figures)
        let memoryCapacity = figures.memoryLimitBytes ?? hostMemoryBytes
        if let usage = figures.memoryUsageBytes, let memoryCapacity, memoryCapacity > 0 {
            result.memoryPercent = min(100, Double(usage) / Double(memoryCapacity) * 100)
        }
        // The same process: counters continue. A restarted container has a new main process.
        if let previous, previous.pid == target.pid {
            let seconds = (now - previous.at).inSeconds
            if seconds > 0 {
                let capacity = min(onlineCPUs, figures.cpuLimitCores ?? onlineCPUs)
                if let used = Self.delta(previous.cpuNanoseconds, figures.cpuUsageNanoseconds), capacity > 0 {
                    result.cpuPercentOfCapacity = min(100, Double(used) / 1e9 / seconds / capacity * 100)
                }
                result.ioReadBytesPerSecond = Self.delta(previous.readBytes, figures.ioReadBytes).map {
                    Double($0) / seconds
                }
                result.ioWriteBytesPerSecond = Self.delta(previous.writeBytes, figures.ioWriteBytes).map {
                    Double($0) / seconds
                }
            }
        }
        let reading = Previous(
            pid: target.pid,
            cpuNanoseconds: figures.cpuUsageNanoseconds,
            readBytes: figures.ioReadBytes,
            writeBytes: figures.ioWriteBytes,
            at: now
        )
        return (.figures(result), reading)
    }

    /// `after - before` for a counter that only grows; nil when either is missing or it went back.
    private static func delta(_ before: UInt64?, _ after: UInt64?) -> UInt64? {
        guard let before, let after, after >= before else { return nil }
        return after - before
    }
}
