import Foundation  // JSONSerialization, to read /health
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Connections that never finish a request, or sit idle, cannot hold the agent's sockets: the
/// real agent binary with short `http` timeouts, and real TCP clients on loopback.
@Suite("HTTP connection limits", .serialized)
struct ConnectionLimitTests {
    private let http = CurlTransport(userAgent: "limit-tests", connectTimeout: .seconds(2), requestTimeout: .seconds(5))

    private struct Setup {
        let directory: TemporaryDirectory
        let configPath: String
        let port: Int
        let metricsPort: Int

        init(http: String) throws {
            directory = TemporaryDirectory(prefix: "rw-conn")
            configPath = directory.path + "/config.json"
            port = try ProcessHelpers.freeLoopbackPort()
            metricsPort = try ProcessHelpers.freeLoopbackPort()
            writeText(
                """
                {"client_id": "acme", "poll_interval_seconds": 0.2, "port": \(port), "metrics_port": \(metricsPort),
                 "spool": {"dir": "\(directory.path)/spool"}, "http": \(http),
                 "components": [{"name": "agent", "process_name": "resource-watcher"}]}
                """,
                to: configPath
            )
        }

        func start() async throws -> AgentProcess {
            try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        }
    }

    /// A TCP connection to 127.0.0.1:`port` (blocking, with a receive timeout for polls).
    private final class RawClient {
        let descriptor: Int32

        init?(port: Int) {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { return nil }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else {
                close(descriptor)
                return nil
            }
        }

        deinit { close(descriptor) }

        func send(_ text: String) {
            _ = text.withCString { Glibc.send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        }

        /// Whether the server has closed the connection (EOF or reset), without waiting.
        var isClosedByServer: Bool {
            var pending = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&pending, 1, 0) > 0 else { return false }
            var byte: UInt8 = 0
            let read = recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            return read == 0 || (read < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        }

        /// Reads until the server closes or `deadline`; what was read.
        func readUntilClosed(deadline: ContinuousClock.Instant) -> (text: String, closed: Bool) {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while ContinuousClock.now < deadline {
                var pending = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                guard poll(&pending, 1, 50) > 0 else { continue }
                let count = recv(descriptor, &buffer, buffer.count, 0)
                if count <= 0 { return (String(decoding: received, as: UTF8.self), true) }
                received += buffer[0..<count]
            }
            return (String(decoding: received, as: UTF8.self), false)
        }
    }

    /// Raises this process's open-file soft limit to its hard limit (the test holds 1,500 sockets).
    private func raiseDescriptorLimit() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    private func health(_ port: Int) async throws -> (status: Int, ticks: Int) {
        let reply = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)/health", timeout: .seconds(2)))
        let document = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        let sampler = document?["sampler"] as? [String: Any]
        return (reply.status, sampler?["ticks"] as? Int ?? -1)
    }

    private func closedCount(_ metricsPort: Int, reason: String) async throws -> Int {
        let reply = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(metricsPort)/metrics"))
        let text = String(decoding: reply.body, as: UTF8.self)
        let prefix = #"resource_watcher_http_connections_closed_total{server="api",reason="\#(reason)"} "#
        let line = text.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Int($0.dropFirst(prefix.count)) } ?? -1
    }

    @Test(
        "1,500 clients holding half-sent request heads: none keeps its socket past the head timeout, /health answers and the sampler ticks throughout"
    )
    func halfSentHeads() async throws {
        raiseDescriptorLimit()
        let setup = try Setup(http: #"{"head_timeout_seconds": 3, "max_connections": 1024}"#)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }

        var clients: [RawClient] = []
        for _ in 0..<1500 {
            guard let client = RawClient(port: setup.port) else { continue }
            client.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  // never finished
            clients.append(client)
        }
        #expect(clients.count == 1500)
        let allOpened = ContinuousClock.now
        // Throughout: /health answers (a new client makes room by closing the longest-waiting
        // half-open one) and ticks advance.
        var ticks: [Int] = []
        for _ in 0..<5 {
            let answer = try await health(setup.port)
            #expect(answer.status == 200)
            ticks.append(answer.ticks)
            try await Task.sleep(for: .milliseconds(250))  // pacing the probes (a tick is 0.2 s), not a synchronisation
        }
        #expect((ticks.last ?? 0) > (ticks.first ?? 0), "ticks: \(ticks)")
        // Every half-open socket is closed by the server by the head timeout (plus a margin).
        let deadline = allOpened + .seconds(3) + .seconds(5)
        var open = clients.filter { !$0.isClosedByServer }
        while !open.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))  // the next poll, not a synchronisation
            open = open.filter { !$0.isClosedByServer }
        }
        #expect(open.isEmpty, "\(open.count) half-open connections still open after the head timeout")
        let timedOut = try await closedCount(setup.metricsPort, reason: "head_timeout")
        let evicted = try await closedCount(setup.metricsPort, reason: "evicted")
        #expect(timedOut + evicted >= 1500, "head_timeout \(timedOut), evicted \(evicted)")
        #expect(try await health(setup.port).status == 200)
    }

    @Test(
        "over max_connections a new client closes the longest-waiting half-open one: the API still answers, evictions counted"
    )
    func capEvictsTheLongestWaiting() async throws {
        let setup = try Setup(http: #"{"head_timeout_seconds": 60, "max_connections": 50}"#)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        var clients: [RawClient] = []
        for _ in 0..<60 {
            guard let client = RawClient(port: setup.port) else { continue }
            client.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            clients.append(client)
        }
        // Over the cap: the oldest half-open ones made room, the newest are still open.
        try await pollUntil("10 evictions") {
            try await closedCount(setup.metricsPort, reason: "evicted") >= 10
        }
        // The ones closed are among the oldest (connections alternate between two event loops,
        // so admission order is connection order give or take; the agent's start-up probe, idle
        // on keep-alive, may count among the 61), the newest are kept.
        let closed = clients.indices.filter { clients[$0].isClosedByServer }
        #expect((9...11).contains(closed.count), "closed: \(closed)")
        #expect(closed.allSatisfy { $0 < 30 }, "not the oldest: \(closed)")
        #expect(!closed.contains { $0 >= 50 }, "the newest are kept: \(closed)")
        for _ in 0..<5 {
            let answer = try await health(setup.port)
            #expect(answer.status == 200)
        }
        #expect(try await closedCount(setup.metricsPort, reason: "over_capacity") == 0)
    }

    @Test(
        "an idle kept-alive connection is closed after the idle timeout; a body that stops is closed after the body timeout"
    )
    func idleAndBodyTimeouts() async throws {
        let setup = try Setup(
            http: #"{"idle_timeout_seconds": 1, "body_timeout_seconds": 1, "head_timeout_seconds": 5}"#
        )
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }

        let idle = try #require(RawClient(port: setup.port))
        idle.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let idleResult = idle.readUntilClosed(deadline: .now + .seconds(6))
        #expect(idleResult.text.hasPrefix("HTTP/1.1 200"), "\(idleResult.text)")
        #expect(idleResult.closed, "kept open past the idle timeout")

        let slowBody = try #require(RawClient(port: setup.port))
        slowBody.send(
            "POST /v1/usage HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mo"
        )
        let bodyResult = slowBody.readUntilClosed(deadline: .now + .seconds(6))
        #expect(bodyResult.closed, "kept open past the body timeout: \(bodyResult.text)")
        #expect(try await closedCount(setup.metricsPort, reason: "idle_timeout") >= 1)
        #expect(try await closedCount(setup.metricsPort, reason: "body_timeout") == 1)
    }

    @Test(
        "20 concurrent 1 MiB usage bodies are refused while parsing: the agent's peak memory grows by less than 64 MiB"
    )
    func concurrentHugeBodies() async throws {
        let setup = try Setup(http: "{}")
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        // Each body is 1 MiB of `[1,1,1,...]`: half a million values, tens of MiB each if parsed whole.
        let body = Array(("[" + Array(repeating: "1", count: 524_000).joined(separator: ",") + "]").utf8)
        #expect(body.count <= 1 << 20 && body.count > 1_000_000)
        let before = try #require(agent.peakResidentKiB())
        let port = setup.port
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    // One transport (one curl thread) per client: 20 requests in flight at once.
                    let client = CurlTransport(userAgent: "limit-tests", requestTimeout: .seconds(30))
                    let reply = try await client.send(
                        HTTPRequest(
                            method: .post,
                            url: "http://127.0.0.1:\(port)/v1/usage",
                            headers: [("Content-Type", "application/json")],
                            body: body,
                            timeout: .seconds(30)
                        )
                    )
                    let text = String(decoding: reply.body, as: UTF8.self)
                    #expect(
                        reply.status == 400 && text.contains("too_many_events"),
                        "\(reply.status) \(text.prefix(300))"
                    )
                }
            }
            try await group.waitForAll()
        }
        let after = try #require(agent.peakResidentKiB())
        // 20 bodies held at once are 20 MiB (plus a copy each while parsing starts); the bound
        // leaves room for that and nothing in proportion to the element count.
        #expect(after - before < 64 * 1024, "peak RSS grew by \((after - before) / 1024) MiB")
    }
}
