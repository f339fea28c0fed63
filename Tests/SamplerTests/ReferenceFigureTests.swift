import TestSupport
import Testing
import WatcherModel

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// The sampler's figures against psutil's for the same processes over the same interval.
@Suite("Sampler against psutil")
struct ReferenceFigureTests {
    private func unique(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    @Test("a CPU burner at one full core reads within 10% of psutil's figure")
    func cpuMatchesPsutil() throws {
        let marker = unique("burner")
        let burner = try ChildProcess("/bin/sh", ["-c", "while :; do :; done", marker])
        defer {
            burner.kill()
            burner.wait()
        }
        let sampler = ProcessComponentSampler(components: [
            ComponentConfig(name: "burner", cmdline: "^/bin/sh -c while :; do :; done \(marker)$")
        ])
        let probe = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("psutil_probe.py"), "cpu", "\(burner.pid)", "3"]
        )
        let start = try probe.readLines(atLeast: 1, deadline: .now + .seconds(30))
        try #require(start == ["start"], "probe said \(start)")
        _ = sampler.sample(now: .now)
        let result = try probe.readLines(atLeast: 1, deadline: .now + .seconds(30))
        let sample = try #require(sampler.sample(now: .now).first)
        let line = try #require(result.first)
        let reference = try #require(Double(line))
        let ours = Double(sample.cpuUsageCentipercent) / 100
        #expect(reference > 10, "the burner should use a visible share of the host (\(reference)%)")
        #expect(abs(ours - reference) <= reference * 0.10, "ours \(ours)%, psutil \(reference)%")
        probe.wait()
    }

    @Test("a process holding 200 MiB resident reads within 5% of psutil's RSS")
    func memoryMatchesPsutil() throws {
        let marker = unique("holder")
        let holder = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sys, time; block = b'x' * (200 << 20); print('held', flush=True); time.sleep(600)", marker,
            ]
        )
        defer {
            holder.kill()
            holder.wait()
        }
        #expect(try holder.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["held"])
        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "holder", cmdline: " \(marker)$")])
        let sample = try #require(sampler.sample().first)
        let probe = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("psutil_probe.py"), "rss", "\(holder.pid)"]
        ).finish()
        let reference = try #require(Double(probe.output.split(separator: "\n").last.map(String.init) ?? ""))
        let ours = Double(sample.memoryUsageKib) * 1024
        #expect(sample.processCount == 1)
        #expect(ours >= 200 * 1_048_576, "ours \(ours / 1_048_576) MiB")
        #expect(
            abs(ours - reference) <= reference * 0.05,
            "ours \(ours / 1_048_576) MiB, psutil \(reference / 1_048_576) MiB"
        )
    }

    @Test("a listener is found by the port it listens on, and is down once it exits")
    func listenerFoundByPort() throws {
        let listener = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(600)",
            ]
        )
        let line = try #require(try listener.readLines(atLeast: 1, deadline: .now + .seconds(30)).first)
        let port = try #require(Int(line))
        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "listener", ports: [port])])
        let running = try #require(sampler.sample().first)
        #expect(running.status == .healthy)
        #expect(running.processCount == 1)
        #expect(running.memoryUsageKib > 0)
        listener.kill()
        listener.wait()
        #expect(sampler.sample().first?.status == .down)
    }
}
