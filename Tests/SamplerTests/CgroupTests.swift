import TestSupport
import Testing
import WatcherModel

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// Serves every absolute path from under `root`, so a fixture tree stands in for "/".
struct FixtureReader: ProcReader {
    let root: String
    let live = LiveProcReader()

    func contents(of path: String) -> [UInt8]? { live.contents(of: root + path) }
    func entries(of directory: String) -> [String] { live.entries(of: root + directory) }
    func linkTarget(of path: String) -> String? { live.linkTarget(of: root + path) }
}

@Suite("Cgroup reader: fixture trees")
struct CgroupFixtureTests {
    static let dockerV2 = "/system.slice/docker-3f9a6c1e2b7d4a5f8e0c9b1d2a3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e.scope"
    static let dockerV1 = "/docker/9d2f1c0b8a7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c"

    private func reader(_ tree: String) -> FixtureReader { FixtureReader(root: Fixtures.path("cgroup/\(tree)")) }

    private func figures(_ tree: String, pid: Int32) -> CgroupFigures {
        let reader = reader(tree)
        return CgroupReader.figures(for: CgroupReader.membership(pid: pid, reader: reader), reader: reader)
    }

    @Test("a v2 container reports cpu.stat, cpu.max, memory less inactive_file, memory.max and io.stat over devices")
    func unifiedContainer() {
        let membership = CgroupReader.membership(pid: 4242, reader: reader("v2"))
        #expect(membership == CgroupMembership(unifiedPath: Self.dockerV2))
        let expected = CgroupFigures(
            cpuUsageNanoseconds: 8_123_456_000,
            cpuLimitCores: 0.5,
            memoryUsageBytes: 157_286_400 - 52_428_800,
            memoryLimitBytes: 256 << 20,
            ioReadBytes: 1_048_576 + 4096,
            ioWriteBytes: 2_097_152 + 8192
        )
        #expect(figures("v2", pid: 4242) == expected)
        #expect(figures("v2", pid: 4242).memoryPercentOfLimit == 100.0 * 100 / 256)
    }

    @Test("a v2 cgroup with \"max\" limits has none, and an empty io.stat is zero bytes")
    func unifiedUnlimited() {
        let figures = figures("v2", pid: 4343)
        #expect(figures.cpuUsageNanoseconds == 1_500_000_000 && figures.cpuLimitCores == nil)
        #expect(figures.memoryUsageBytes == 73_400_320 - 10_485_760 && figures.memoryLimitBytes == nil)
        #expect(figures.memoryPercentOfLimit == nil)
        #expect(figures.ioReadBytes == 0 && figures.ioWriteBytes == 0)
    }

    @Test("a v1 container reports cpuacct.usage, the CFS quota, usage less total_inactive_file, and blkio Read/Write")
    func legacyContainer() {
        let membership = CgroupReader.membership(pid: 5151, reader: reader("v1"))
        #expect(membership.unifiedPath == nil)
        let cpu = CgroupMembership.Placement(hierarchy: "cpu,cpuacct", path: Self.dockerV1)
        #expect(membership.controllers["cpu"] == cpu)
        #expect(membership.controllers["cpuacct"] == cpu)
        #expect(membership.controllers["memory"] == .init(hierarchy: "memory", path: Self.dockerV1))
        #expect(membership.controllers["net_prio"]?.hierarchy == "net_cls,net_prio")
        #expect(membership.controllers["rdma"]?.path == "/")
        let expected = CgroupFigures(
            cpuUsageNanoseconds: 45_678_901_234,
            cpuLimitCores: 1.5,
            memoryUsageBytes: 209_715_200 - 31_457_280,
            memoryLimitBytes: 512 << 20,
            ioReadBytes: 3_145_728 + 4096,
            ioWriteBytes: 1_048_576 + 8192
        )
        #expect(figures("v1", pid: 5151) == expected)
    }

    @Test("a v1 quota of -1 and the 2^63 page-rounded limit mean unlimited; recursive blkio wins")
    func legacyUnlimited() {
        let figures = figures("v1", pid: 5252)
        #expect(figures.cpuUsageNanoseconds == 912_345_678 && figures.cpuLimitCores == nil)
        #expect(figures.memoryUsageBytes == 8_388_608 - 1_048_576 && figures.memoryLimitBytes == nil)
        #expect(figures.ioReadBytes == 65536 && figures.ioWriteBytes == 131_072)
    }

    @Test("the limits alone (what process components read) are the limits of the whole figures, on every layout")
    func limitsMatchFigures() {
        for (tree, pid) in [("v2", 4242), ("v2", 4343), ("v1", 5151), ("v1", 5252), ("hybrid", 6161), ("hybrid", 6262)]
        {
            let reader = reader(tree)
            let membership = CgroupReader.membership(pid: Int32(pid), reader: reader)
            let limits = CgroupReader.limits(for: membership, reader: reader)
            let figures = CgroupReader.figures(for: membership, reader: reader)
            #expect(limits.cpuLimitCores == figures.cpuLimitCores, "\(tree) \(pid)")
            #expect(limits.memoryLimitBytes == figures.memoryLimitBytes, "\(tree) \(pid)")
        }
        let container = CgroupReader.limits(
            for: CgroupReader.membership(pid: 4242, reader: reader("v2")),
            reader: reader("v2")
        )
        #expect(container.cpuLimitCores == 0.5 && container.memoryLimitBytes == 256 << 20)
    }

    @Test("on a hybrid host without v2 controllers every figure comes from v1, not the v2 cpu.stat")
    func hybridUsesLegacyControllers() {
        let membership = CgroupReader.membership(pid: 6161, reader: reader("hybrid"))
        #expect(membership.unifiedPath == "/system.slice/nginx.service")
        #expect(membership.controllers["cpuacct"] == .init(hierarchy: "cpuacct", path: "/system.slice/nginx.service"))
        let figures = figures("hybrid", pid: 6161)
        #expect(figures.cpuUsageNanoseconds == 2_468_013_579 && figures.cpuLimitCores == 2)
        #expect(figures.memoryUsageBytes == 41_943_040 - 4_194_304 && figures.memoryLimitBytes == 128 << 20)
        #expect(figures.ioReadBytes == 40960 && figures.ioWriteBytes == 81920)
        // With no v1 cpu placement, only the v2 usage is left: found under the hybrid "unified" mount.
        #expect(self.figures("hybrid", pid: 6262) == CgroupFigures(cpuUsageNanoseconds: 999_000))
    }

    @Test("each controller picks its own hierarchy, and a v1 directory is found under another name")
    func mixedHierarchies() throws {
        let tree = TemporaryDirectory()
        defer { tree.remove() }
        // v2 at the mount root with memory and io, but cpu left on v1, mounted as "cpuacct,cpu".
        try makeTree(
            at: tree.path,
            [
                "proc/77/cgroup": "3:cpu,cpuacct:/app.slice\n0::/app.slice\n",
                "sys/fs/cgroup/cgroup.controllers": "memory io pids\n",
                "sys/fs/cgroup/app.slice/memory.current": "1000\n",
                "sys/fs/cgroup/app.slice/memory.max": "4000\n",
                "sys/fs/cgroup/app.slice/memory.stat": "anon 900\ninactive_file 100\n",
                "sys/fs/cgroup/app.slice/io.stat": "259:0 rbytes=7 wbytes=9 rios=1 wios=1 dbytes=0 dios=0\n",
                "sys/fs/cgroup/app.slice/cpu.stat": "usage_usec 1\nuser_usec 1\nsystem_usec 0\n",
                "sys/fs/cgroup/cpuacct,cpu/app.slice/cpuacct.usage": "777\n",
                "sys/fs/cgroup/cpuacct,cpu/app.slice/cpu.cfs_quota_us": "250000\n",
                "sys/fs/cgroup/cpuacct,cpu/app.slice/cpu.cfs_period_us": "100000\n",
            ]
        )
        let reader = FixtureReader(root: tree.path)
        let figures = CgroupReader.figures(for: CgroupReader.membership(pid: 77, reader: reader), reader: reader)
        #expect(figures.cpuUsageNanoseconds == 777 && figures.cpuLimitCores == 2.5)
        #expect(figures.memoryUsageBytes == 900 && figures.memoryLimitBytes == 4000)
        #expect(figures.ioReadBytes == 7 && figures.ioWriteBytes == 9)
    }

    @Test("a vanished process has an empty membership and no figures")
    func missingEverything() {
        let reader = FixtureReader(root: "/nonexistent-\(UInt32.random(in: 0...UInt32.max))")
        let membership = CgroupReader.membership(pid: 1, reader: reader)
        #expect(membership.isEmpty)
        #expect(CgroupReader.figures(for: membership, reader: reader) == CgroupFigures())
        let gone = CgroupMembership.Placement(hierarchy: "memory", path: "/gone")
        let stale = CgroupMembership(unifiedPath: "/gone", controllers: ["memory": gone])
        #expect(CgroupReader.figures(for: stale, reader: reader) == CgroupFigures())
    }

    @Test("malformed files cost their figure and nothing else")
    func malformedFiles() throws {
        let tree = TemporaryDirectory()
        defer { tree.remove() }
        try makeTree(
            at: tree.path,
            [
                "proc/9/cgroup": "junk\n::\n5:memory\n0::/bad\n1:name=systemd:/odd:path\n",
                "sys/fs/cgroup/cgroup.controllers": "cpu memory io\n",
                "sys/fs/cgroup/bad/memory.current": "12345\n",
                "sys/fs/cgroup/bad/memory.max": "lots\n",
                "sys/fs/cgroup/bad/memory.stat": "inactive_file\ninactive_file x y\n",
                "sys/fs/cgroup/bad/cpu.max": "50000\n",
                "sys/fs/cgroup/bad/cpu.stat": "usage_usec 18446744073709551615\n",
                "sys/fs/cgroup/bad/io.stat": "garbage\nTotal rbytes=5\n8:0 rbytes=oops wbytes=3 =4 rbytes\n",
            ]
        )
        let reader = FixtureReader(root: tree.path)
        let membership = CgroupReader.membership(pid: 9, reader: reader)
        #expect(membership.unifiedPath == "/bad")
        #expect(membership.controllers == ["name=systemd": .init(hierarchy: "name=systemd", path: "/odd:path")])
        let figures = CgroupReader.figures(for: membership, reader: reader)
        #expect(figures == CgroupFigures(memoryUsageBytes: 12345, ioReadBytes: 0, ioWriteBytes: 3))
    }

    @Test("file parsers reject what the kernel never writes")
    func parserEdges() {
        func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
        #expect(CgroupFileFormat.cpuMaxCores(bytes("150000 100000\n")) == 1.5)
        #expect(CgroupFileFormat.cpuMaxCores(bytes("50000 0\n")) == nil)
        #expect(CgroupFileFormat.cfsCores(quota: bytes("50000\n"), period: nil) == nil)
        #expect(CgroupFileFormat.v1MemoryLimit(bytes("4611686018427387903\n")) == 4_611_686_018_427_387_903)
        #expect(CgroupFileFormat.number(bytes("  42 \n")) == 42)
        #expect(CgroupFileFormat.number(bytes("")) == nil)
        // The cache is read after the usage; when it has grown past it, report the usage.
        #expect(CgroupFileFormat.usageWithoutInactiveFile(usage: 10, inactiveFile: 11) == 10)
        #expect(CgroupFileFormat.usageWithoutInactiveFile(usage: 10, inactiveFile: nil) == 10)
        let blkio = CgroupFileFormat.blkioServiceBytes(bytes("8:0 Read 18446744073709551615\n8:16 Read 1\nTotal 9\n"))
        #expect(blkio?.read == UInt64.max)
    }

    /// Writes each file (path relative to `root`), making its directories first.
    private func makeTree(at root: String, _ files: [String: String]) throws {
        for (path, text) in files {
            let directory = root + "/" + path.split(separator: "/").dropLast().joined(separator: "/")
            try #require(run("/bin/mkdir", ["-p", directory]) == 0)
            writeText(text, to: root + "/" + path)
        }
    }
}

/// Real v1 cgroups on this host: CI runs as root on a machine with the v1 memory and cpu
/// hierarchies mounted, so a missing privilege is a failure, not a skip.
@Suite("Cgroup reader: real v1 cgroups")
struct CgroupLiveTests {
    @Test("a process holding 100 MiB in a 256 MiB memory cgroup reads as such")
    func realMemoryCgroup() throws {
        let directory = try makeCgroup(in: "memory")
        defer { removeCgroup(directory) }
        let limit: UInt64 = 256 << 20
        try #require(writeControl("\(limit)", to: directory + "/memory.limit_in_bytes"))
        // The shell joins the cgroup before exec'ing Python, so all 100 MiB are charged to it.
        let script = "b = b'x' * (100 << 20); print('held', flush=True); import time; time.sleep(600)"
        let command = "echo $$ > \(directory)/cgroup.procs && exec python3 -c \"\(script)\""
        let child = try ChildProcess("/bin/sh", ["-c", command])
        defer {
            child.kill()
            child.wait()
        }
        #expect(try child.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["held"])
        let reader = LiveProcReader()
        let membership = CgroupReader.membership(pid: child.pid, reader: reader)
        #expect(membership.controllers["memory"]?.path == "/" + directory.split(separator: "/").last!)
        let figures = CgroupReader.figures(for: membership, reader: reader)
        #expect(figures.memoryLimitBytes == limit)
        // What the process holds: its private (anonymous) resident memory, 100 MiB plus the interpreter.
        let held = try #require(anonymousResidentBytes(of: child.pid))
        #expect(held >= 100 << 20)
        let usage = try #require(figures.memoryUsageBytes)
        #expect(abs(Double(usage) - Double(held)) <= Double(held) * 0.1, "cgroup: \(usage) B, process: \(held) B")
        let percent = try #require(figures.memoryPercentOfLimit)
        let expectedPercent = Double(held) / Double(limit) * 100
        #expect(abs(percent - expectedPercent) <= expectedPercent * 0.1, "read \(percent)%, want \(expectedPercent)%")

        // The sampler reports memory_usage_percent against the cgroup's limit, not the host's RAM.
        let pidFile = "/tmp/rw-cgroup-\(UInt32.random(in: 0...UInt32.max)).pid"
        writeText("\(child.pid)", to: pidFile)
        defer { unlink(pidFile) }
        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "limited", pidFile: pidFile)])
        let sample = try #require(sampler.sample().first)
        let resident = Double(sample.memoryUsageKib) * 1024
        let samplerPercent = Double(sample.memoryUsageCentipercent) / 100
        #expect(abs(samplerPercent - resident / Double(limit) * 100) <= 0.1, "sampler read \(samplerPercent)%")
        #expect(samplerPercent > 35 && samplerPercent < 50, "100 MiB of 256 MiB, sampler read \(samplerPercent)%")
    }

    @Test("a busy loop in a cpu cgroup with quota 50000/100000 has a 0.5-core limit and is held to it")
    func realCPUCgroup() throws {
        // cpu and cpuacct are separate hierarchies here; where they are co-mounted both names
        // lead to one directory, and the second mkdir finds it made.
        let cpu = try makeCgroup(in: "cpu")
        defer { removeCgroup(cpu) }
        let accounting = "/sys/fs/cgroup/cpuacct/" + cpu.split(separator: "/").last!
        if access(accounting, F_OK) != 0 { try #require(mkdir(accounting, 0o755) == 0, "cannot create \(accounting)") }
        defer { removeCgroup(accounting) }
        try #require(writeControl("100000", to: cpu + "/cpu.cfs_period_us"))
        try #require(writeControl("50000", to: cpu + "/cpu.cfs_quota_us"))
        let join = "echo $$ > \(cpu)/cgroup.procs && echo $$ > \(accounting)/cgroup.procs"
        let child = try ChildProcess("/bin/sh", ["-c", "\(join) && echo ready && while :; do :; done"])
        defer {
            child.kill()
            child.wait()
        }
        #expect(try child.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])
        let start = ContinuousClock.now
        let reader = LiveProcReader()
        let membership = CgroupReader.membership(pid: child.pid, reader: reader)
        var figures = CgroupReader.figures(for: membership, reader: reader)
        #expect(figures.cpuLimitCores == 0.5)
        // Poll (with a deadline) until the loop has used 0.3 s of CPU: unthrottled that takes
        // 0.3 s of wall time, at half a core about 0.6 s, so the quota must show in the ratio.
        let deadline = start + .seconds(30)
        while (figures.cpuUsageNanoseconds ?? 0) < 300_000_000 && ContinuousClock.now < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
            figures = CgroupReader.figures(for: membership, reader: reader)
        }
        let elapsed = ContinuousClock.now - start
        let used = Double(try #require(figures.cpuUsageNanoseconds)) / 1e9
        let wall = elapsed.inSeconds
        #expect(used >= 0.3)
        // One period of slack: the shell ran unthrottled for an instant before "ready".
        #expect(used <= 0.5 * wall + 0.1, "used \(used) s of CPU in \(wall) s under a 0.5-core quota")
    }

    /// Makes a fresh cgroup in a v1 hierarchy, failing clearly when this run cannot.
    private func makeCgroup(in hierarchy: String) throws -> String {
        try #require(getuid() == 0, "real-cgroup tests must run as root (CI does): they create cgroups")
        let parent = "/sys/fs/cgroup/\(hierarchy)"
        try #require(access(parent + "/cgroup.procs", W_OK) == 0, "no writable v1 \(hierarchy) hierarchy at \(parent)")
        let directory = "\(parent)/rw-test-\(UInt32.random(in: 0...UInt32.max))"
        try #require(mkdir(directory, 0o755) == 0, "cannot create \(directory): errno \(errno)")
        return directory
    }

    /// Removes a cgroup once its last task is reaped; the kernel may report it busy briefly after.
    private func removeCgroup(_ directory: String) {
        let deadline = ContinuousClock.now + .seconds(5)
        while rmdir(directory) != 0 && errno != ENOENT && ContinuousClock.now < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        #expect(access(directory, F_OK) != 0, "cgroup \(directory) left behind")
    }

    /// Writes a control file in one write(2), as the kernel expects, reporting whether it took.
    private func writeControl(_ value: String, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) } == bytes.count
    }

    /// RssAnon from /proc/<pid>/status, in bytes.
    private func anonymousResidentBytes(of pid: pid_t) -> UInt64? {
        guard let status = LiveProcReader().contents(of: "/proc/\(pid)/status") else { return nil }
        let line = String(decoding: status, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("RssAnon:") }
        return line?.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { UInt64($0) }.map { $0 * 1024 }
    }
}
