import TestSupport
import Testing
import WatcherModel
import WatcherProto

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// The host component's figures against psutil's, read independently from the same /proc.
@Suite("Host sampler against psutil")
struct HostSamplerTests {
    private func hostFigures(path: String) throws -> [Double] {
        let probe = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("psutil_probe.py"), "host", "0", path]
        ).finish()
        let lines = probe.output.split(separator: "\n").compactMap { Double($0) }
        try #require(lines.count == 5, "psutil said \(probe.output)")
        return lines
    }

    @Test("host CPU over an interval reads within 5 points of psutil's figure for the same window")
    func cpuMatchesPsutil() throws {
        let burner = try ChildProcess("/bin/sh", ["-c", "while :; do :; done", "host-burner"])
        defer {
            burner.kill()
            burner.wait()
        }
        let sampler = HostSampler(clientID: "default", diskPaths: ["/"])
        let probe = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("psutil_probe.py"), "host-cpu", "0", "3"]
        )
        let start = try probe.readLines(atLeast: 1, deadline: .now + .seconds(30))
        try #require(start == ["start"], "probe said \(start)")
        let first = sampler.sample().sample
        #expect(first.cpuUsageCentipercent == 0, "no rate before a second reading")
        let result = try probe.readLines(atLeast: 1, deadline: .now + .seconds(30))
        let sample = sampler.sample().sample
        let line = try #require(result.first)
        let reference = try #require(Double(line))
        let ours = Double(sample.cpuUsageCentipercent) / 100
        #expect(
            reference > 100 / Double(sysconf(Int32(_SC_NPROCESSORS_ONLN))) * 0.8,
            "the burner shows (\(reference)%)"
        )
        #expect(abs(ours - reference) <= 5, "ours \(ours)%, psutil \(reference)%")
        probe.wait()
    }

    @Test("host memory, network counters, disk and load average match psutil's reading of the same host")
    func figuresMatchPsutil() throws {
        let directory = TemporaryDirectory()
        let sampler = HostSampler(clientID: "tenant-h", diskPaths: [directory.path, "/nonexistent/path"])
        let (sample, diskPercent) = sampler.sample()
        let counters = try #require(HostSampler.networkCounters(reader: LiveProcReader()))
        let reference = try hostFigures(path: directory.path)
        #expect(sample.name == "host" && sample.clientID == "tenant-h" && sample.status == .healthy)
        let memory = Double(sample.memoryUsageKib) * 1024
        #expect(abs(memory - reference[0]) <= 32 * 1_048_576, "ours \(memory), psutil \(reference[0])")
        #expect(sample.memoryUsageCentipercent > 0)
        // Counters keep moving between the two reads: a few KiB of loopback-free traffic at most.
        #expect(abs(Double(counters.received) - reference[1]) <= 256 * 1024, "rx ours \(counters.received)")
        #expect(abs(Double(counters.transmitted) - reference[2]) <= 256 * 1024, "tx ours \(counters.transmitted)")
        let disk = Double(sample.diskUsageKib) * 1024
        #expect(abs(disk - reference[3]) <= 64 * 1_048_576, "ours \(disk), psutil \(reference[3])")
        #expect(diskPercent != nil)
        #expect(sample.hasLoadAverage)
        #expect(abs(sample.loadAverage.oneMinute - reference[4]) <= 0.5, "ours \(sample.loadAverage.oneMinute)")
        #expect(!sample.hasGpuMemoryUsageKib, "no GPU here: no GPU figure, not 0")
    }

    @Test("the same filesystem named twice counts once, and unreadable paths are skipped")
    func filesystemsCountOnce() throws {
        let directory = TemporaryDirectory()
        let once = try #require(HostSampler.diskFigures(of: [directory.path]))
        let twice = try #require(HostSampler.diskFigures(of: [directory.path, directory.path + "/.", "/nonexistent"]))
        #expect(abs(Double(twice.usedBytes) - Double(once.usedBytes)) <= 16 * 1_048_576)
        #expect(HostSampler.diskFigures(of: ["/nonexistent"]) == nil)
    }

    @Test("/proc/stat's cpu line: busy is all but idle and iowait, guest time not counted twice")
    func cpuLineParsing() throws {
        let line = Array("cpu  100 20 30 400 50 6 7 8 90 10\ncpu0 1 2 3 4 5 6 7 8 9 10\n".utf8)
        let times = try #require(HostSampler.parseCPUTimes(line))
        #expect(times.total == 100 + 20 + 30 + 400 + 50 + 6 + 7 + 8)
        #expect(times.busy == times.total - 450)
        #expect(HostSampler.parseCPUTimes(Array("intr 1 2 3".utf8)) == nil)
        let load = try #require(HostSampler.parseLoadAverage(Array("0.52 1.58 2.59 1/467 12345\n".utf8)))
        #expect(load.oneMinute == 0.52 && load.fiveMinutes == 1.58 && load.fifteenMinutes == 2.59)
        let memory = try #require(
            HostSampler.parseMemory(Array("MemTotal:  1000 kB\nMemFree: 10 kB\nMemAvailable:  400 kB\n".utf8))
        )
        #expect(memory.totalBytes == 1_024_000 && memory.usedBytes == 614_400)
    }
}
