import Foundation  // JSONSerialization, to read the upstream's request log and the error bodies
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The metering proxy as a server hostile clients reach: the real agent binary with one Ollama
/// proxy in front of the LLM stand-in (`Tests/Fixtures/llm_upstream.py`), and clients speaking
/// raw TCP where no HTTP client would send what they send.
@Suite("Metering proxy against hostile clients", .serialized)
struct ProxyHardeningTests {
    private let http = CurlTransport(
        userAgent: "proxy-hardening",
        connectTimeout: .seconds(2),
        requestTimeout: .seconds(10)
    )

    private struct Setup {
        let directory: TemporaryDirectory
        let configPath: String
        let port: Int
        let metricsPort: Int
        let proxyPort: Int
        /// An operator token for `/metrics`, once tokens are configured.
        var metricsToken: String?

        /// `proxy` and `top` are extra JSON members of the proxy and of the config.
        init(upstreamPort: Int, proxy: String = "", top: String = "") throws {
            directory = TemporaryDirectory(prefix: "rw-proxy-hostile")
            configPath = directory.path + "/config.json"
            port = try ProcessHelpers.freeLoopbackPort()
            metricsPort = try ProcessHelpers.freeLoopbackPort()
            proxyPort = try ProcessHelpers.freeLoopbackPort()
            writeText(
                """
                {"client_id": "acme", "poll_interval_seconds": 0.5, "port": \(port), "metrics_port": \(metricsPort),
                 "spool": {"dir": "\(directory.path)/spool"}\(top),
                 "components": [
                   {"name": "ollama", "client_id": "acme", "ports": [\(upstreamPort)],
                    "proxy": {"listen_port": \(proxyPort), "upstream": "http://127.0.0.1:\(upstreamPort)"\(proxy)}}]}
                """,
                to: configPath
            )
        }

        func start() async throws -> AgentProcess {
            try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        }
    }

    // MARK: - Helpers

    /// The requests `upstream` received from clients (the agent's own `/api/ps` reads left out).
    private func upstreamRequests(_ upstream: FixtureServer) async throws -> [[String: Any]] {
        let reply = try await http.send(HTTPRequest(url: upstream.baseURL + "/__requests"))
        let requests = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]])
        return requests.filter { request in
            !((request["headers"] as? [[String]]) ?? []).contains { $0 == ["User-Agent", "resource-watcher/scrape"] }
        }
    }

    private func metricsText(_ setup: Setup) async throws -> String {
        let headers = setup.metricsToken.map { [("Authorization", "Bearer \($0)")] } ?? []
        let reply = try await http.send(
            HTTPRequest(url: "http://127.0.0.1:\(setup.metricsPort)/metrics", headers: headers)
        )
        try #require(reply.status == 200, "/metrics answered \(reply.status)")
        return String(decoding: reply.body, as: UTF8.self)
    }

    /// The value of the exposition line for `series` (name and labels as written), 0 if absent.
    private func metricValue(_ setup: Setup, _ series: String) async throws -> Double {
        for line in try await metricsText(setup).split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? -1
        }
        return 0
    }

    private func limited(_ setup: Setup, _ reason: String) async throws -> Double {
        try await metricValue(setup, #"resource_watcher_source_limited_total{component="ollama",reason="\#(reason)"}"#)
    }

    private func inFlight(_ setup: Setup) async throws -> Double {
        try await metricValue(setup, #"resource_watcher_proxy_in_flight_requests{client_id="acme",component="ollama"}"#)
    }

    /// Sends `request` on a fresh connection and reads the answer until the proxy closes it (5 s at most).
    private func exchange(_ setup: Setup, _ request: String) throws -> (text: String, closed: Bool) {
        let client = try #require(RawTCPClient(port: setup.proxyPort))
        client.send(request)
        return client.readUntilClosed(deadline: .now + .seconds(5))
    }

    /// The `error.code` of a JSON error answer's body.
    private func errorCode(_ answer: String) -> String? {
        guard let start = answer.range(of: "\r\n\r\n")?.upperBound else { return nil }
        let body = Data(answer[start...].utf8)
        let document = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        return (document?["error"] as? [String: Any])?["code"] as? String
    }

    private func generate(
        _ setup: Setup,
        model: String = "llama3.2",
        headers: [(String, String)] = []
    ) async throws
        -> HTTPResponse
    {
        try await http.send(
            HTTPRequest(
                method: .post,
                url: "http://127.0.0.1:\(setup.proxyPort)/api/generate",
                headers: headers,
                body: Array(#"{"model": "\#(model)", "prompt": "one two", "stream": false}"#.utf8)
            )
        )
    }

    // MARK: - Tests

    @Test(
        "CONNECT, absolute-form, authority-form, asterisk-form, two Hosts and smuggling framings are each refused with 400 and a JSON error, counted, and nothing reaches the server behind the @host:port trick or the upstream"
    )
    func hostileHeadsAreRefused() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let other = try FixtureServer("llm_upstream.py")
        defer { other.stop() }
        let setup = try Setup(upstreamPort: upstream.port)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        let elsewhere = "127.0.0.1:\(other.port)"
        let body = #"{"model": "llama3.2", "prompt": "hi", "stream": false}"#
        let cases: [(name: String, request: String, code: String)] = [
            ("CONNECT @host:port", "CONNECT @\(elsewhere)/api/tags HTTP/1.1\r\nHost: a\r\n\r\n", "connect_refused"),
            (
                "CONNECT authority-form", "CONNECT \(elsewhere) HTTP/1.1\r\nHost: \(elsewhere)\r\n\r\n",
                "connect_refused"
            ),
            (
                "absolute-form", "GET http://\(elsewhere)/api/tags HTTP/1.1\r\nHost: \(elsewhere)\r\n\r\n",
                "invalid_request_target"
            ),
            ("@host:port path", "GET @\(elsewhere)/api/tags HTTP/1.1\r\nHost: a\r\n\r\n", "invalid_request_target"),
            ("asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "invalid_request_target"),
            ("two Hosts", "GET /api/tags HTTP/1.1\r\nHost: a\r\nHost: \(elsewhere)\r\n\r\n", "duplicate_host"),
            (
                "Content-Length then Transfer-Encoding",
                "POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n\(body)",
                "malformed_request"
            ),
            (
                "Transfer-Encoding then Content-Length",
                "POST /api/generate HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                    + "Content-Length: 5\r\n\r\n0\r\n\r\n",
                "invalid_content_length"
            ),
            (
                "two Content-Lengths",
                "POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n"
                    + "Content-Length: 2\r\n\r\n\(body)",
                "conflicting_framing"
            ),
            (
                "Transfer-Encoding other than chunked",
                "POST /api/generate HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                "unsupported_transfer_encoding"
            ),
        ]
        for (name, request, code) in cases {
            let answer = try exchange(setup, request)
            #expect(answer.text.hasPrefix("HTTP/1.1 400 "), "\(name): \(answer.text.prefix(200))")
            #expect(errorCode(answer.text) == code, "\(name): \(answer.text.prefix(300))")
            #expect(answer.closed, "\(name): the connection was kept open")
        }
        #expect(try await upstreamRequests(other).isEmpty, "a request reached the server behind the proxy's back")
        #expect(try await upstreamRequests(upstream).isEmpty, "a refused request was forwarded")
        #expect(try await limited(setup, "proxy_request_refused") == Double(cases.count))
        // The proxy still serves an honest client.
        #expect(try await generate(setup).status == 200)
        #expect(try await upstreamRequests(upstream).count == 1)
    }

    @Test("a request body over max_body_bytes gets 413, declared or chunked, and is counted; a body under it passes")
    func bodyOverTheCapIsRefused() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(upstreamPort: upstream.port, proxy: #", "max_body_bytes": 4096"#)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }

        let declared = try exchange(
            setup,
            "POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n{\"model\": "
        )
        #expect(declared.text.hasPrefix("HTTP/1.1 413 "), "\(declared.text.prefix(200))")
        #expect(errorCode(declared.text) == "body_too_large")
        #expect(declared.closed)
        #expect(try await upstreamRequests(upstream).isEmpty, "a body declared over the cap was forwarded")

        let chunk = String(repeating: "x", count: 3000)
        let chunked = try exchange(
            setup,
            "POST /api/generate HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "bb8\r\n\(chunk)\r\nbb8\r\n\(chunk)\r\n0\r\n\r\n"
        )
        #expect(chunked.text.hasPrefix("HTTP/1.1 413 "), "\(chunked.text.prefix(200))")
        #expect(errorCode(chunked.text) == "body_too_large")
        #expect(try await limited(setup, "proxy_body_too_large") == 2)
        #expect(try await generate(setup).status == 200)
        try await pollUntil("the in-flight gauge back at 0") { try await inFlight(setup) == 0 }
    }

    @Test(
        "5,000 idle connections: the connection cap holds, an honest client is served, and the idle ones are closed by the head timeout; peak memory grows by less than 64 MiB"
    )
    func fiveThousandIdleConnections() async throws {
        let limit = RawTCPClient.raiseDescriptorLimit()
        try #require(limit >= 12_000, "RLIMIT_NOFILE \(limit) is too low for 5,000 connections on both ends")
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(
            upstreamPort: upstream.port,
            top: #", "http": {"head_timeout_seconds": 3, "max_connections": 512}"#
        )
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        let before = try #require(agent.peakResidentKiB())

        var idle: [RawTCPClient] = []
        for _ in 0..<5000 {
            guard let client = RawTCPClient(port: setup.proxyPort) else { continue }
            idle.append(client)
        }
        #expect(idle.count == 5000)
        let opened = ContinuousClock.now
        // An honest client is served while the idle ones are there (it makes room by closing the
        // longest-waiting idle one).
        let served = try await generate(setup)
        #expect(served.status == 200, "\(served.status)")
        // The cap held: at most 512 of the 5,000 can still be open; each one closed for room is counted.
        try await pollUntil("5,000 - 512 connections closed for room") {
            try await limited(setup, "proxy_connections_over_limit") >= 5000 - 512
        }
        #expect(idle.filter { !$0.isClosedByServer }.count <= 512)
        // Every idle one is closed by the head timeout (3 s), with a margin.
        let deadline = opened + .seconds(3) + .seconds(7)
        var open = idle.filter { !$0.isClosedByServer }
        while !open.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))  // the next poll, not a synchronisation
            open = open.filter { !$0.isClosedByServer }
        }
        #expect(open.isEmpty, "\(open.count) idle connections still open past the head timeout")
        #expect(try await limited(setup, "proxy_request_timeout") >= 1)
        let after = try #require(agent.peakResidentKiB())
        #expect(after - before < 64 * 1024, "peak RSS grew by \((after - before) / 1024) MiB")
        #expect(try await generate(setup).status == 200)
    }

    @Test(
        "50 clients that leave before the upstream's head: each model call is still counted and the in-flight gauge returns to 0"
    )
    func clientsLeavingBeforeTheHead() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let setup = try Setup(upstreamPort: upstream.port)
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        let count = 50
        let body = #"{"model": "fault-slow-head", "prompt": "one two"}"#
        var clients: [RawTCPClient] = []
        for _ in 0..<count {
            let client = try #require(RawTCPClient(port: setup.proxyPort))
            client.send("POST /api/generate HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            clients.append(client)
        }
        // Every request reached the upstream, which holds its head back for 1 s: the clients leave now.
        try await pollUntil("\(count) requests at the upstream") {
            try await upstreamRequests(upstream).count == count
        }
        for client in clients { client.reset() }
        try await pollUntil("the in-flight gauge back at 0") { try await inFlight(setup) == 0 }
        // Every model call is counted once: in full when the upstream finished first, else with
        // its tokens unknown and the client's leaving counted.
        try await pollUntil("\(count) requests counted") {
            let reply = try await http.send(
                HTTPRequest(url: "http://127.0.0.1:\(setup.port)/metrics/models?client_id=acme")
            )
            let document = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
            let models = document?["models"] as? [[String: Any]] ?? []
            let counted = models.first { $0["name"] as? String == "fault-slow-head" }?["requests_count"] as? Int
            return counted == count
        }
        let metered = try await metricValue(
            setup,
            #"resource_watcher_proxy_metered_requests_total{client_id="acme",component="ollama"}"#
        )
        #expect(metered == Double(count))
        #expect(try await generate(setup).status == 200)
    }

    @Test(
        "require_token: no token 401, another tenant's 403, the tenant's or an operator's passes, and the token used for the proxy never reaches the upstream"
    )
    func requireToken() async throws {
        let upstream = try FixtureServer("llm_upstream.py")
        defer { upstream.stop() }
        let acme = "acme-secret"
        let globex = "globex-secret"
        let operatorToken = "operator-secret"
        func hash(_ token: String) throws -> String {
            let result = try ChildProcess("/bin/sh", ["-c", "printf %s '\(token)' | sha256sum"]).finish()
            return String(result.output.prefix(64))
        }
        var setup = try Setup(
            upstreamPort: upstream.port,
            proxy: #", "require_token": true"#,
            top: """
                , "auth": {"tokens": [{"client_id": "acme", "sha256": "\(try hash(acme))"},
                                      {"client_id": "globex", "sha256": "\(try hash(globex))"}],
                           "operator_tokens": [{"sha256": "\(try hash(operatorToken))"}]}
                """
        )
        setup.metricsToken = operatorToken
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }

        let none = try await generate(setup)
        #expect(none.status == 401)
        #expect(none.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        let wrong = try await generate(setup, headers: [("Authorization", "Bearer not-a-token")])
        #expect(wrong.status == 401)
        let otherTenant = try await generate(setup, headers: [("Authorization", "Bearer \(globex)")])
        #expect(otherTenant.status == 403)
        #expect(try await upstreamRequests(upstream).isEmpty, "a refused caller's request was forwarded")
        let tokenRefusals = try await limited(setup, "proxy_token_refused")
        #expect(tokenRefusals == 3, "\(tokenRefusals)")

        // The tenant's token in Authorization: taken off the forwarded request.
        let tenant = try await generate(setup, headers: [("Authorization", "Bearer \(acme)")])
        #expect(tenant.status == 200)
        // An operator token in Proxy-Authorization: Authorization (the upstream's own key) passes on.
        let viaProxyHeader = try await generate(
            setup,
            headers: [("Proxy-Authorization", "Bearer \(operatorToken)"), ("Authorization", "Bearer upstream-key")]
        )
        #expect(viaProxyHeader.status == 200)
        let forwarded = try await upstreamRequests(upstream)
        try #require(forwarded.count == 2)
        func headers(_ request: [String: Any]) -> [[String]] {
            (request["headers"] as? [[String]]) ?? []
        }
        #expect(!headers(forwarded[0]).contains { $0[0].lowercased() == "authorization" })
        #expect(headers(forwarded[1]).contains { $0 == ["Authorization", "Bearer upstream-key"] })
        #expect(!headers(forwarded[1]).contains { $0[0].lowercased() == "proxy-authorization" })
        for request in forwarded {
            #expect(!"\(headers(request))".contains("secret"), "a proxy token reached the upstream")
        }
    }
}
