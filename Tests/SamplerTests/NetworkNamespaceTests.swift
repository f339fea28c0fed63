import TestSupport
import Testing
import WatcherModel

@testable import Sampler

#if canImport(Glibc)
import Glibc
#endif

/// A process in its own network namespace (ip netns + a veth pair to the host, root needed)
/// transfers a known number of bytes; the sampler's rates over the interval must match.
@Suite("Sampler network namespaces", .serialized)
struct NetworkNamespaceTests {
    @Test("a process in its own namespace that moves known bytes reads network_in/out within 10%")
    func namespaceTraffic() throws {
        try #require(getuid() == 0, "this test creates a network namespace and must run as root")
        let suffix = String(UInt32.random(in: 0..<0xFFFF), radix: 16)
        let namespace = "rwtest-\(suffix)"
        let hostSide = "rwh\(suffix)"
        let innerSide = "rwn\(suffix)"
        let subnet = "10.253.\(Int.random(in: 1...250))"
        defer { run("/usr/sbin/ip", ["netns", "del", namespace]) }
        for command in [
            ["netns", "add", namespace],
            ["link", "add", hostSide, "type", "veth", "peer", "name", innerSide],
            ["link", "set", innerSide, "netns", namespace],
            ["addr", "add", "\(subnet).1/24", "dev", hostSide],
            ["link", "set", hostSide, "up"],
            ["netns", "exec", namespace, "ip", "addr", "add", "\(subnet).2/24", "dev", innerSide],
            ["netns", "exec", namespace, "ip", "link", "set", innerSide, "up"],
            ["netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
        ] {
            try #require(run("/usr/sbin/ip", command) == 0, "ip \(command.joined(separator: " ")) failed")
        }

        let sendBytes = 8 << 20
        let replyBytes = 4 << 20
        let server = try ChildProcess(
            "/usr/bin/env",
            ["python3", Fixtures.path("net_server.py"), "\(subnet).1", "\(replyBytes)"]
        )
        defer {
            server.kill()
            server.wait()
        }
        let port = try #require(try server.readLines(atLeast: 1, deadline: .now + .seconds(30)).first)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let trigger = directory.path + "/go"
        let marker = "netpeer-\(suffix)"
        let client = try ChildProcess(
            "/usr/sbin/ip",
            [
                "netns", "exec", namespace, "python3", Fixtures.path("net_client.py"), "\(subnet).1", port,
                "\(sendBytes)", trigger, marker,
            ]
        )
        defer {
            client.kill()
            client.wait()
        }
        #expect(try client.readLines(atLeast: 1, deadline: .now + .seconds(30)) == ["ready"])

        let sampler = ProcessComponentSampler(components: [ComponentConfig(name: "peer", cmdline: " \(marker)$")])
        let start = ContinuousClock.now
        let before = try #require(sampler.sample(now: start).first)
        #expect(before.status == .healthy)
        #expect(!before.networkHostWide, "a process in its own namespace is not host-wide")
        writeText("", to: trigger)
        #expect(try client.readLines(atLeast: 1, deadline: .now + .seconds(60)) == ["done"])
        let end = ContinuousClock.now
        let after = try #require(sampler.sample(now: end).first)
        let seconds = (end - start).inSeconds
        let sent = Double(after.networkOutBytesPerSecond) * seconds
        let received = Double(after.networkInBytesPerSecond) * seconds
        // TCP/IP headers and ACKs add a few percent on top of the payload.
        #expect(
            abs(sent - Double(sendBytes)) <= Double(sendBytes) * 0.10,
            "sent \(sent) bytes for \(sendBytes) of payload"
        )
        #expect(
            abs(received - Double(replyBytes)) <= Double(replyBytes) * 0.10,
            "received \(received) bytes for \(replyBytes) of payload"
        )
    }

    @Test("a process sharing the host's namespace is flagged host-wide")
    func hostWideFlag() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        writeText("\(getpid())\n", to: directory.path + "/pid")
        let sampler = ProcessComponentSampler(components: [
            ComponentConfig(name: "self", pidFile: directory.path + "/pid")
        ])
        let sample = try #require(sampler.sample().first)
        #expect(sample.status == .healthy)
        #expect(sample.networkHostWide)
    }
}
