/// Reads a process's cgroup membership and its cgroup's resource figures, from v2, v1, or a mix.
///
/// Each controller is bound to exactly one hierarchy, so per controller (memory, cpu, io) the
/// reader asks: is it enabled in the process's v2 cgroup (its interface file exists there)?
/// If not, does the process have a v1 placement for it? Only then does it fall back to what v2
/// offers without the controller (cpu.stat's usage). It never mixes hierarchies within one
/// controller: on a hybrid host the v2 path can belong to another cgroup than the v1 path
/// (docker's cgroupfs driver), and its figures would describe the wrong processes.
enum CgroupReader {
    /// The cgroup paths of `pid` from /proc/<pid>/cgroup: v2 line "0::/path"; v1 lines
    /// "N:controller[,controller]:/path". Empty when the file cannot be read (process gone).
    static func membership(pid: Int32, reader: any ProcReader) -> CgroupMembership {
        guard let bytes = reader.contents(of: "/proc/\(pid)/cgroup") else { return CgroupMembership() }
        return CgroupMembership(procCgroupFile: bytes)
    }

    /// Reads the figures for a membership: v2 under `mountRoot` (or `mountRoot`/unified in the
    /// hybrid layout), v1 under `mountRoot`/<hierarchy>/<path>. Missing or malformed files
    /// leave their fields nil. `includingProcessCount` adds `pids.current`; `everyTick` reads
    /// through `ProcReader.freshContents(of:)` (the files stay open between ticks).
    static func figures(
        for membership: CgroupMembership,
        reader: any ProcReader,
        mountRoot: String = "/sys/fs/cgroup",
        includingProcessCount: Bool = false,
        everyTick: Bool = false
    ) -> CgroupFigures {
        let files = Files(membership: membership, reader: reader, mountRoot: mountRoot, fresh: everyTick)
        var figures = CgroupFigures()
        (figures.memoryUsageBytes, figures.memoryLimitBytes) = files.memory()
        (figures.cpuUsageNanoseconds, figures.cpuLimitCores) = files.cpu()
        (figures.ioReadBytes, figures.ioWriteBytes) = files.io()
        if includingProcessCount { figures.processCount = files.processCount() }
        return figures
    }
}

extension CgroupReader {
    /// Only the CPU and memory limits of a membership, from the same hierarchies `figures`
    /// chooses: what percentages of a process component are taken of. Three or four small files,
    /// not the usage and `memory.stat` figures a container's sample needs.
    static func limits(
        for membership: CgroupMembership,
        reader: any ProcReader,
        mountRoot: String = "/sys/fs/cgroup"
    ) -> (cpuLimitCores: Double?, memoryLimitBytes: UInt64?) {
        let files = Files(membership: membership, reader: reader, mountRoot: mountRoot)
        return (files.cpuLimit(), files.memoryLimit())
    }
}

/// The interface files of one membership, and the per-controller choice of hierarchy.
private struct Files {
    let membership: CgroupMembership
    let reader: any ProcReader
    let mountRoot: String
    /// Whether files are read through `freshContents` (kept open: read every tick).
    let fresh: Bool
    /// The process's v2 directory; nil when it has no "0::" line.
    let unifiedDirectory: String?

    init(membership: CgroupMembership, reader: any ProcReader, mountRoot: String, fresh: Bool = false) {
        self.membership = membership
        self.reader = reader
        self.mountRoot = mountRoot
        self.fresh = fresh
        func contents(_ path: String) -> [UInt8]? {
            fresh ? reader.freshContents(of: path) : reader.contents(of: path)
        }
        unifiedDirectory = membership.unifiedPath.map { path in
            // Pure v2 mounts the unified hierarchy at the mount root; systemd's hybrid layout
            // mounts it at "unified", beside the v1 hierarchies.
            let hybridRoot = joined(mountRoot, "unified")
            let isHybrid =
                contents(joined(mountRoot, "cgroup.controllers")) == nil
                && contents(joined(hybridRoot, "cgroup.controllers")) != nil
            return joined(isHybrid ? hybridRoot : mountRoot, path)
        }
    }

    func memory() -> (usage: UInt64?, limit: UInt64?) {
        if let directory = unifiedDirectory, let current = CgroupFileFormat.number(read(directory, "memory.current")) {
            let stat = CgroupFileFormat.keyedNumbers(read(directory, "memory.stat"))
            let usage = CgroupFileFormat.usageWithoutInactiveFile(usage: current, inactiveFile: stat["inactive_file"])
            return (usage, CgroupFileFormat.memoryMax(read(directory, "memory.max")))
        }
        guard let (directory, usageBytes) = v1File("memory.usage_in_bytes", of: "memory"),
            let usage = CgroupFileFormat.number(usageBytes)
        else { return (nil, nil) }
        // total_inactive_file covers descendants, as usage_in_bytes does (use_hierarchy);
        // inactive_file is the cgroup's own, kept for kernels that omit the total.
        let stat = CgroupFileFormat.keyedNumbers(read(directory, "memory.stat"))
        let inactiveFile = stat["total_inactive_file"] ?? stat["inactive_file"]
        return (
            CgroupFileFormat.usageWithoutInactiveFile(usage: usage, inactiveFile: inactiveFile),
            CgroupFileFormat.v1MemoryLimit(read(directory, "memory.limit_in_bytes"))
        )
    }

    /// `memory()`'s limit alone.
    func memoryLimit() -> UInt64? {
        if let directory = unifiedDirectory, read(directory, "memory.current") != nil {
            return CgroupFileFormat.memoryMax(read(directory, "memory.max"))
        }
        guard let (directory, _) = v1File("memory.limit_in_bytes", of: "memory") else { return nil }
        return CgroupFileFormat.v1MemoryLimit(read(directory, "memory.limit_in_bytes"))
    }

    /// `cpu()`'s limit alone.
    func cpuLimit() -> Double? {
        if let directory = unifiedDirectory, let max = read(directory, "cpu.max") {
            return CgroupFileFormat.cpuMaxCores(max)
        }
        guard membership.controllers["cpu"] != nil || membership.controllers["cpuacct"] != nil else { return nil }
        return v1File("cpu.cfs_quota_us", of: "cpu").flatMap { directory, quota in
            CgroupFileFormat.cfsCores(quota: quota, period: read(directory, "cpu.cfs_period_us"))
        }
    }

    func cpu() -> (usage: UInt64?, limitCores: Double?) {
        // cpu.max exists only where the v2 cpu controller is enabled; cpu.stat is always there.
        if let directory = unifiedDirectory, let max = read(directory, "cpu.max") {
            return (unifiedCPUUsage(directory), CgroupFileFormat.cpuMaxCores(max))
        }
        if membership.controllers["cpu"] != nil || membership.controllers["cpuacct"] != nil {
            let usage = v1File("cpuacct.usage", of: "cpuacct").flatMap { CgroupFileFormat.number($0.contents) }
            let limit = v1File("cpu.cfs_quota_us", of: "cpu").flatMap { directory, quota in
                CgroupFileFormat.cfsCores(quota: quota, period: read(directory, "cpu.cfs_period_us"))
            }
            return (usage, limit)
        }
        return (unifiedDirectory.flatMap(unifiedCPUUsage), nil)
    }

    func io() -> (read: UInt64?, write: UInt64?) {
        if let directory = unifiedDirectory, let stat = CgroupFileFormat.ioStatBytes(read(directory, "io.stat")) {
            return (stat.read, stat.write)
        }
        // The recursive file counts descendants too, matching v2's io.stat and the other v1
        // figures; the plain one is for kernels without it.
        let file =
            v1File("blkio.throttle.io_service_bytes_recursive", of: "blkio")
            ?? v1File("blkio.throttle.io_service_bytes", of: "blkio")
        guard let bytes = CgroupFileFormat.blkioServiceBytes(file?.contents) else { return (nil, nil) }
        return (bytes.read, bytes.write)
    }

    /// `pids.current`: v2 where the pids controller is enabled, else the v1 pids hierarchy.
    func processCount() -> UInt64? {
        if let directory = unifiedDirectory, let count = CgroupFileFormat.number(read(directory, "pids.current")) {
            return count
        }
        return v1File("pids.current", of: "pids").flatMap { CgroupFileFormat.number($0.contents) }
    }

    private func unifiedCPUUsage(_ directory: String) -> UInt64? {
        guard let microseconds = CgroupFileFormat.keyedNumbers(read(directory, "cpu.stat"))["usage_usec"] else {
            return nil
        }
        let (nanoseconds, overflow) = microseconds.multipliedReportingOverflow(by: 1000)
        return overflow ? nil : nanoseconds
    }

    /// A v1 controller's file and the directory holding it. The hierarchy directory is named
    /// after its controllers, but distributions differ: "cpu,cpuacct" may be mounted as such,
    /// as "cpuacct,cpu", or only reachable through "cpu"/"cpuacct" links. Try each, first hit wins.
    private func v1File(_ name: String, of controller: String) -> (directory: String, contents: [UInt8])? {
        guard let placement = membership.controllers[controller] else { return nil }
        let parts = placement.hierarchy.split(separator: ",").map(String.init)
        var candidates = [placement.hierarchy, controller] + parts + [parts.reversed().joined(separator: ",")]
        if controller == "cpu" || controller == "cpuacct" { candidates += ["cpu,cpuacct", "cpuacct,cpu"] }
        var tried: Set<String> = []
        for hierarchy in candidates where tried.insert(hierarchy).inserted {
            let directory = joined(joined(mountRoot, hierarchy), placement.path)
            if let contents = read(directory, name) { return (directory, contents) }
        }
        return nil
    }

    private func read(_ directory: String, _ name: String) -> [UInt8]? {
        let path = joined(directory, name)
        return fresh ? reader.freshContents(of: path) : reader.contents(of: path)
    }
}

/// Joins path pieces with exactly one "/" between them; a path of "/" adds nothing.
private func joined(_ base: String, _ path: String) -> String {
    let head = base.hasSuffix("/") ? String(base.dropLast()) : base
    let tail = path.drop { $0 == "/" }
    return tail.isEmpty ? head : head + "/" + tail
}
