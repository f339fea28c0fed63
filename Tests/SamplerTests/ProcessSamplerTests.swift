import TestSupport
import Testing
import WatcherModel

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

@Suite("Process sampler")
struct ProcessSamplerTests {
    @Test("a stat line whose command holds spaces and parentheses parses from the last parenthesis")
    func statParsing() throws {
        let line =
            "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 98765 1000000 512 18446744073709551615"
        let parsed = try #require(ProcessTable.parseStat(Array(line.utf8)))
        #expect(parsed.command == "my (odd) name")
        #expect(parsed.parentPID == 1)
        #expect(parsed.cpuTicks == 325)
        #expect(parsed.startTicks == 98765)
        #expect(parsed.threadCount == 3)
        #expect(parsed.residentPages == 512)
    }

    @Test("a running process is found with its memory, and reported down once it exits")
    func findsRealProcess() throws {
        let duration = "300.\(UInt32.random(in: 0...UInt32.max))"  // unique, so the command line is ours
        let child = try ChildProcess("/bin/sleep", [duration])
        let byCommandLine = ComponentConfig(name: "sleeper", clientID: "tenant-a", cmdline: "^/bin/sleep \(duration)$")
        let byName = ComponentConfig(name: "any-sleep", processName: "sleep")
        let sampler = ProcessComponentSampler(components: [byCommandLine, byName])
        // posix_spawn returns before the child has exec'd: poll until its command line is sleep's.
        var running = sampler.sample()
        let deadline = ContinuousClock.now + .seconds(10)
        while running[0].status != .healthy && ContinuousClock.now < deadline { running = sampler.sample() }
        #expect(running[0].status == .healthy)
        #expect(running[0].clientID == "tenant-a")
        #expect(running[0].processCount == 1)
        #expect(running[0].memoryUsageKib > 0)
        #expect(running[1].status == .healthy)
        #expect(running[1].processCount >= 1)
        child.kill()
        child.wait()
        #expect(sampler.sample()[0].status == .down)
    }

    @Test("a container component (read from the engine) does not make every tick scan the whole host")
    func containerComponentsDoNotForceScans() throws {
        let duration = "300.\(UInt32.random(in: 0...UInt32.max))"
        let child = try ChildProcess("/bin/sleep", [duration])
        defer {
            child.kill()
            child.wait()
        }
        let sampler = ProcessComponentSampler(components: [
            ComponentConfig(name: "sleeper", cmdline: "^/bin/sleep \(duration)$"),
            ComponentConfig(name: "box", containerName: "box"),
        ])
        let start = ContinuousClock.now
        #expect(sampler.sample(now: start)[0].status == .healthy)
        #expect(sampler.state.withLock { $0.lastFullScan } == start)
        // Within the rediscovery interval, with every process component found: its trees only.
        #expect(sampler.sample(now: start + .seconds(1))[0].status == .healthy)
        #expect(sampler.state.withLock { $0.lastFullScan } == start, "no host scan for the container component")
    }

    @Test("a process_name longer than the kernel's 15 bytes matches its executable, not another with the same first 15")
    func longProcessNames() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let stem = "lname-\(UInt32.random(in: 1_000_000...9_999_999))-x"  // 15 bytes
        let wanted = stem + "watched"
        let other = stem + "another"
        for name in [wanted, other] {
            _ = try ChildProcess("/bin/cp", ["/bin/sleep", directory.path + "/" + name]).finish()
        }
        // argv[0] is not the name: only the kernel's cut name and the executable say what it is.
        let watched = try ChildProcess("/bin/bash", ["-c", "exec -a renamed \(directory.path)/\(wanted) 600"])
        let stranger = try ChildProcess(directory.path + "/" + other, ["600"])
        defer {
            for process in [watched, stranger] {
                process.kill()
                process.wait()
            }
        }
        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "watched", processName: wanted)])
        try await pollUntil("the renamed process is found", timeout: .seconds(10)) {
            sampler.sample().first?.status == .healthy
        }
        #expect(sampler.processTrees()["watched"] == [watched.pid], "not \(stranger.pid), whose first 15 bytes match")
    }

    @Test("a process that exited but was never reaped (a zombie) is down, not running")
    func zombieIsDown() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let name = "zmb\(UInt32.random(in: 0...9_999_999))"
        let path = directory.path + "/" + name
        _ = try ChildProcess("/bin/cp", ["/bin/sleep", path]).finish()
        // The shell starts the short sleeper, then becomes a long sleep that never reaps it.
        let parent = try ChildProcess("/bin/sh", ["-c", "\(path) 2 & exec /bin/sleep 600"])
        defer {
            parent.killGroup()
            parent.wait()
        }
        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "short", processName: name)])
        try await pollUntil("the sleeper runs", timeout: .seconds(10)) { sampler.sample().first?.status == .healthy }
        // Its pid, from the parent's children, then the kernel's word that it is a zombie.
        let child = try #require(
            LiveProcReader().contents(of: "/proc/\(parent.pid)/task/\(parent.pid)/children").flatMap {
                Int32(String(decoding: $0, as: UTF8.self).split(separator: " ").first ?? "")
            }
        )
        try await pollUntil("the sleeper has exited, unreaped", timeout: .seconds(10)) {
            LiveProcReader().contents(of: "/proc/\(child)/stat").map(ProcessTable.hasExited) == true
        }
        let sample = try #require(sampler.sample().first)
        #expect(sample.status == .down, "a zombie runs nothing")
        #expect(sample.processCount == 0)
    }

    @Test("a process that execs into a matching command line is found at the next scan, though it did not match before")
    func execRematched() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let duration = "300.\(UInt32.random(in: 0...UInt32.max))"
        let flag = directory.path + "/go"
        // The shell's own command line holds the duration but does not match the anchored pattern;
        // once the flag exists it execs (same PID, same start time) into /bin/sleep <duration>.
        let child = try ChildProcess(
            "/bin/sh",
            ["-c", "while [ ! -e \(flag) ]; do sleep 0.05; done; exec /bin/sleep \"$0\"", duration]
        )
        defer {
            child.kill()
            child.wait()
        }
        let sampler = ProcessComponentSampler(
            components: [ComponentConfig(name: "sleeper", cmdline: "^/bin/sleep \(duration)$")]
        )
        // Scanned (and its answer kept) while it is still the shell.
        #expect(sampler.sample()[0].status == .down)
        #expect(sampler.sample()[0].status == .down)
        writeText("", to: flag)
        var found = sampler.sample()[0]
        let deadline = ContinuousClock.now + .seconds(10)
        while found.status != .healthy && ContinuousClock.now < deadline { found = sampler.sample()[0] }
        #expect(found.status == .healthy, "the exec'd process was never matched")
        #expect(found.processCount == 1)
    }

    @Test("the /proc files kept open for a watched process are re-read each tick and closed once it exits")
    func keptFilesClosed() throws {
        let duration = "300.\(UInt32.random(in: 0...UInt32.max))"
        let child = try ChildProcess("/bin/sleep", [duration])
        // Matched by its unique command line: other tests' `sleep` processes may run meanwhile.
        let sampler = ProcessComponentSampler(
            components: [ComponentConfig(name: "sleeper", cmdline: "^/bin/sleep \(duration)$")]
        )
        /// Our descriptors open on a file of the child's /proc directory.
        func openOnChild() -> Int {
            LiveProcReader().entries(of: "/proc/self/fd").filter { descriptor in
                LiveProcReader().linkTarget(of: "/proc/self/fd/\(descriptor)")?.hasPrefix("/proc/\(child.pid)/") == true
            }.count
        }
        var sample = sampler.sample()
        let deadline = ContinuousClock.now + .seconds(10)
        while sample[0].status != .healthy && ContinuousClock.now < deadline { sample = sampler.sample() }
        #expect(sample[0].status == .healthy)
        // Ticks between host scans read the tree from files kept open.
        _ = sampler.sample()
        let kept = openOnChild()
        #expect(kept >= 1, "stat, io and the task's children stay open between ticks")
        #expect(sampler.sample()[0].status == .healthy)
        #expect(openOnChild() == kept, "a tick re-reads the files it keeps, it does not open more")
        child.kill()
        child.wait()
        #expect(sampler.sample()[0].status == .down)
        #expect(openOnChild() == 0, "the files of a process that exited are closed after the tick")
    }

    @Test("a CPU-bound child's figure matches its own tick count over the same interval")
    func cpuOfBusyProcess() throws {
        // A unique $0 makes the command line ours alone.
        let marker = "burner-\(UInt32.random(in: 0...UInt32.max))"
        let child = try ChildProcess("/bin/sh", ["-c", "while :; do :; done", marker])
        defer {
            child.kill()
            child.wait()
        }
        var component = ComponentConfig(name: "burner")
        component.cmdline = "^/bin/sh -c while :; do :; done \(marker)$"
        let sampler = ProcessComponentSampler(components: [component])
        let reader = LiveProcReader()
        func ticks() throws -> UInt64 {
            try #require(reader.contents(of: "/proc/\(child.pid)/stat").flatMap(ProcessTable.parseStat)).cpuTicks
        }
        let ticksPerSecond = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        let start = ContinuousClock.now
        let ticksBefore = try ticks()
        _ = sampler.sample(now: start)
        // Poll /proc (with a deadline) until the child has used at least 1 s of CPU.
        let deadline = start + .seconds(30)
        while try ticks() - ticksBefore < ticksPerSecond, ContinuousClock.now < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
            nanosleep(&pause, nil)
        }
        let end = ContinuousClock.now
        let sample = try #require(sampler.sample(now: end).first)
        let ticksAfter = try ticks()
        let seconds = (end - start).inSeconds
        let cores = Double(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let expected = Double(ticksAfter - ticksBefore) / Double(ticksPerSecond) / seconds / cores * 100
        let percent = Double(sample.cpuUsageCentipercent) / 100
        #expect(percent > 10, "a busy loop should register")
        #expect(
            abs(percent - expected) <= max(2, expected * 0.1),
            "read \(percent)%, the child's own ticks say \(expected)%"
        )
    }
}

@Suite("Disk usage")
struct DiskUsageTests {
    @Test("data_paths are summed like du, hard links once, and the filesystem's used percent is df's")
    func dataPaths() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        run("/bin/mkdir", ["-p", directory.path + "/models/nested"])
        run("/bin/sh", ["-c", "head -c 3145728 /dev/urandom > \(directory.path)/models/a.bin"])
        run("/bin/sh", ["-c", "head -c 1048576 /dev/urandom > \(directory.path)/models/nested/b.bin"])
        run("/bin/ln", [directory.path + "/models/a.bin", directory.path + "/models/nested/a-link.bin"])
        let usage = DiskUsage(components: [("ollama", [directory.path + "/models", directory.path + "/models/nested"])])
        #expect(usage.figures(for: "ollama") == nil)
        usage.refresh()
        let figures = try #require(usage.figures(for: "ollama"))
        let duOutput = try ChildProcess("/usr/bin/du", ["-s", "-B1", directory.path + "/models"]).finish().output
        let du = try #require(UInt64(duOutput.split(separator: "\t").first ?? ""))
        #expect(figures.allocatedBytes == du)
        #expect(figures.allocatedBytes >= 4 << 20 && figures.allocatedBytes < 5 << 20)
        let df = try ChildProcess("/bin/df", ["--output=pcent", directory.path]).finish().output
        let dfPercent = try #require(Double(df.split(separator: "\n").last?.filter(\.isNumber) ?? ""))
        let ours = try #require(figures.filesystemUsedPercent)
        #expect(abs(ours - dfPercent) <= 1, "ours \(ours)%, df \(dfPercent)%")
        #expect(usage.figures(for: "other") == nil)
    }
}

@Suite("Process trees between host scans")
struct ProcessTreeTests {
    @Test("a child started by a found process joins its tree on the next tick, without a host scan")
    func childJoinsTree() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let trigger = directory.path + "/go"
        let marker = "parent-\(UInt32.random(in: 0...UInt32.max))"
        let script = """
            import os, subprocess, time
            print('ready', flush=True)
            while not os.path.exists('\(trigger)'): time.sleep(0.01)
            child = subprocess.Popen(['/bin/sleep', '600'])
            print('spawned', flush=True)
            time.sleep(600)
            """
        let parent = try ChildProcess("/usr/bin/env", ["python3", "-c", script, marker])
        defer {
            run("/usr/bin/pkill", ["-KILL", "-P", "\(parent.pid)"])
            parent.kill()
            parent.wait()
        }
        #expect(try parent.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])
        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "parent", cmdline: " \(marker)$")])
        let start = ContinuousClock.now
        #expect(sampler.sample(now: start).first?.processCount == 1)
        writeText("", to: trigger)
        #expect(try parent.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["spawned"])
        // Well inside the rediscovery interval: the tree is followed through /proc/.../children.
        let next = start + .seconds(1)
        #expect(next - start < ProcessComponentSampler.rediscoveryInterval)
        #expect(sampler.sample(now: next).first?.processCount == 2)
    }
}

@Suite("Process storage I/O and threads")
struct ProcessIOTests {
    @Test("a process writing a known number of bytes to disk reads that much write I/O, and its threads are counted")
    func writeBytes() throws {
        let directory = TemporaryDirectory(prefix: "rw-io")
        defer { directory.remove() }
        let trigger = directory.path + "/go"
        let marker = "writer-\(UInt32.random(in: 0...UInt32.max))"
        let size = 16 << 20
        let script = """
            import os, threading, time
            threading.Thread(target=lambda: time.sleep(600), daemon=True).start()
            print('ready', flush=True)
            while not os.path.exists('\(trigger)'): time.sleep(0.01)
            with open('\(directory.path)/data', 'wb') as f:
                f.write(os.urandom(\(size)))
                f.flush()
                os.fsync(f.fileno())
            print('written', flush=True)
            time.sleep(600)
            """
        let writer = try ChildProcess("/usr/bin/env", ["python3", "-c", script, marker])
        defer {
            writer.kill()
            writer.wait()
        }
        #expect(try writer.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])
        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "writer", cmdline: " \(marker)$")])
        let start = ContinuousClock.now
        let before = try #require(sampler.sample(now: start).first)
        #expect(before.threadCount == 2)
        writeText("", to: directory.path + "/go")
        #expect(try writer.readLines(atLeast: 1, deadline: .now + .seconds(60)) == ["written"])
        let end = ContinuousClock.now
        let after = try #require(sampler.sample(now: end).first)
        let seconds = (end - start).inSeconds
        let written = Double(after.diskWriteBytesPerSecond) * seconds
        #expect(abs(written - Double(size)) <= Double(size) * 0.05, "read \(written) bytes written for \(size)")
    }
}
