import Synchronization
import TestSupport
import Testing

@testable import Sampler

/// `ContainerKernelReader` on cgroup trees written as the kernel lays them out, for the layouts
/// this machine does not have (it is cgroup v1 with the cgroupfs driver, which the real-engine
/// tests cover): v2 and v1 under docker's systemd driver. The clock is driven.
@Suite("Container figures from cgroup trees: v2 and the systemd driver")
struct ContainerKernelReaderTests {
    static let id = "5c0ffee0d15ea5e5ba5eba11deadbeef00112233445566778899aabbccddeeff"
    static let scope = "/system.slice/docker-\(id).scope"

    /// A root holding /proc/<pid>/cgroup and /sys/fs/cgroup, and a clock the test moves.
    final class Tree: Sendable {
        let directory = TemporaryDirectory(prefix: "rw-kernel")
        let now = Mutex(ContinuousClock.now)

        func write(_ path: String, _ text: String) {
            let full = directory.path + path
            _ = run("/bin/mkdir", ["-p", String(full[..<full.lastIndex(of: "/")!])])
            writeText(text, to: full)
        }

        func reader(onlineCPUs: Int = 4) -> ContainerKernelReader {
            ContainerKernelReader(
                reader: FixtureReader(root: directory.path),
                onlineCPUs: onlineCPUs,
                hostMemoryBytes: 8 << 30,
                clock: { self.now.withLock { $0 } }
            )
        }

        func advance(_ duration: Duration) { now.withLock { $0 += duration } }
    }

    private func figures(_ outcome: ContainerKernelReader.Outcome?) throws -> ContainerKernelReader.Figures {
        guard case .figures(let figures) = outcome else {
            throw ChildProcess.Failure(description: "no figures: \(String(describing: outcome))")
        }
        return figures
    }

    @Test(
        "cgroup v2, systemd driver: CPU of the cpu.max limit, memory less inactive_file of memory.max, io.stat rates, pids"
    )
    func unifiedSystemd() throws {
        let tree = Tree()
        defer { tree.directory.remove() }
        let cgroup = "/sys/fs/cgroup" + Self.scope
        tree.write("/proc/7171/cgroup", "0::\(Self.scope)\n")
        tree.write("/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
        tree.write(cgroup + "/cpu.max", "50000 100000\n")
        tree.write(cgroup + "/memory.max", "\(256 << 20)\n")
        tree.write(cgroup + "/memory.stat", "anon 83886080\nfile 20971520\ninactive_file \(20 << 20)\nactive_file 0\n")
        tree.write(cgroup + "/pids.current", "7\n")
        func counters(cpuMicroseconds: Int, read: Int, written: Int, memory: Int) {
            tree.write(cgroup + "/cpu.stat", "usage_usec \(cpuMicroseconds)\nuser_usec 1\nsystem_usec 1\n")
            tree.write(cgroup + "/memory.current", "\(memory)\n")
            tree.write(
                cgroup + "/io.stat",
                "8:0 rbytes=\(read) wbytes=\(written) rios=1 wios=1 dbytes=0 dios=0\n"
                    + "253:0 rbytes=\(read) wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"
            )
        }
        let reader = tree.reader()
        let target = ContainerKernelReader.Target(containerID: Self.id, pid: 7171)
        counters(cpuMicroseconds: 1_000_000, read: 1000, written: 4096, memory: 100 << 20)
        let first = try figures(reader.read([target])[Self.id])
        #expect(first.cpuPercentOfCapacity == nil, "no rate from one reading")
        #expect(first.cgroup.memoryUsageBytes == 80 << 20)
        #expect(first.memoryPercent == 31.25)
        #expect(first.cgroup.cpuLimitCores == 0.5)
        #expect(first.cgroup.processCount == 7)
        tree.advance(.seconds(2))
        counters(cpuMicroseconds: 1_400_000, read: 1000 + 3000, written: 4096 + 8192, memory: 100 << 20)
        let second = try figures(reader.read([target])[Self.id])
        // 0.4 s of CPU over 2 s is 20% of one core: 40% of the 0.5-core limit.
        #expect(abs((second.cpuPercentOfCapacity ?? 0) - 40) < 1e-9)
        #expect(second.ioReadBytesPerSecond == 3000)  // 1500 B/s on each of two devices
        #expect(second.ioWriteBytesPerSecond == 4096)
    }

    @Test(
        "cgroup v1, systemd driver: cpuacct.usage of every online CPU without a quota, total_inactive_file, recursive blkio, pids"
    )
    func legacySystemd() throws {
        let tree = Tree()
        defer { tree.directory.remove() }
        tree.write(
            "/proc/8181/cgroup",
            "12:pids:\(Self.scope)\n11:blkio:\(Self.scope)\n4:memory:\(Self.scope)\n"
                + "3:cpu,cpuacct:\(Self.scope)\n1:name=systemd:\(Self.scope)\n0::/\n"
        )
        let cpu = "/sys/fs/cgroup/cpu,cpuacct" + Self.scope
        let memory = "/sys/fs/cgroup/memory" + Self.scope
        let blkio = "/sys/fs/cgroup/blkio" + Self.scope
        tree.write(cpu + "/cpu.cfs_quota_us", "-1\n")
        tree.write(cpu + "/cpu.cfs_period_us", "100000\n")
        tree.write(memory + "/memory.limit_in_bytes", "9223372036854771712\n")
        tree.write(memory + "/memory.stat", "cache 1048576\ninactive_file 4096\ntotal_inactive_file \(2 << 20)\n")
        tree.write("/sys/fs/cgroup/pids" + Self.scope + "/pids.current", "3\n")
        func counters(cpuNanoseconds: Int, written: Int) {
            tree.write(cpu + "/cpuacct.usage", "\(cpuNanoseconds)\n")
            tree.write(memory + "/memory.usage_in_bytes", "\(34 << 20)\n")
            tree.write(
                blkio + "/blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 0\n8:0 Write \(written)\n8:0 Sync \(written)\n8:0 Async 0\n8:0 Total \(written)\nTotal \(written)\n"
            )
        }
        let reader = tree.reader(onlineCPUs: 4)
        let target = ContainerKernelReader.Target(containerID: Self.id, pid: 8181)
        counters(cpuNanoseconds: 5_000_000_000, written: 0)
        _ = try figures(reader.read([target])[Self.id])
        tree.advance(.seconds(1))
        counters(cpuNanoseconds: 7_000_000_000, written: 1 << 20)
        let second = try figures(reader.read([target])[Self.id])
        // Two cores busy of four, no quota: 50%.
        #expect(abs((second.cpuPercentOfCapacity ?? 0) - 50) < 1e-9)
        #expect(second.cgroup.cpuLimitCores == nil)
        #expect(second.cgroup.memoryUsageBytes == 32 << 20)
        #expect(second.cgroup.memoryLimitBytes == nil)
        #expect(abs((second.memoryPercent ?? 0) - Double(32 << 20) / Double(8 << 30) * 100) < 1e-9, "of MemTotal")
        #expect(second.ioWriteBytesPerSecond == Double(1 << 20))
        #expect(second.cgroup.processCount == 3)
    }

    @Test("a main process gone is said so; one in no cgroup of the container's is not read as the container")
    func goneAndForeign() throws {
        let tree = Tree()
        defer { tree.directory.remove() }
        tree.write("/proc/9191/cgroup", "0::/user.slice/session-1.scope\n")
        tree.write("/proc/9191/stat", "9191 (sh) S 1 9191 9191 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 1 1\n")
        tree.write("/sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
        tree.write("/sys/fs/cgroup/user.slice/session-1.scope/memory.current", "1000\n")
        let reader = tree.reader()
        let outcomes = reader.read([
            .init(containerID: Self.id, pid: 9191),
            .init(containerID: String(Self.id.reversed()), pid: 9292),
        ])
        guard case .cgroupUnreadable = outcomes[Self.id] else {
            Issue.record(
                "a process of another cgroup was read as the container: \(String(describing: outcomes[Self.id]))"
            )
            return
        }
        #expect(outcomes[String(Self.id.reversed())] == .processGone)
    }
}
