import TestSupport
import Testing

@testable import HTTPTransport

@Suite("Curl transport against a local HTTP server")
struct CurlTransportTests {
    private func transport(
        unixSocketPath: String? = nil,
        requestTimeout: Duration = .seconds(20),
        acceptGzip: Bool = true,
        maximumResponseBodyBytes: Int = 16 << 20
    ) -> CurlTransport {
        CurlTransport(
            unixSocketPath: unixSocketPath,
            userAgent: "resource-watcher-test/1.0",
            connectTimeout: .seconds(5),
            requestTimeout: requestTimeout,
            acceptGzip: acceptGzip,
            maximumResponseBodyBytes: maximumResponseBodyBytes
        )
    }

    @Test("a GET arrives with its path, query, headers and user agent, and no body")
    func getRoundTrip() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let request = HTTPRequest(
            url: server.baseURL + "/echo/items?limit=5&name=a%20b",
            headers: [("X-Custom", "one"), ("x-lower", "two"), ("X-Empty", "")]
        )
        let response = try await transport().send(request)
        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        let echo = try Echo(response.body)
        #expect(echo.method == "GET")
        #expect(echo.path == "/echo/items?limit=5&name=a%20b")
        #expect(echo.header("X-Custom") == "one")
        #expect(echo.header("X-Lower") == "two")
        #expect(echo.header("X-Empty") == "")
        #expect(echo.header("User-Agent") == "resource-watcher-test/1.0")
        #expect(echo.header("Accept-Encoding")?.contains("gzip") == true)
        #expect(echo.header("Content-Length") == nil)
        #expect(echo.body.isEmpty)
    }

    @Test("a POST body arrives byte for byte, without libcurl's form content type or Expect")
    func postRoundTrip() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let body = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }  // every byte value, NULs included
        let request = HTTPRequest(
            method: .post,
            url: server.baseURL + "/echo/push",
            headers: [("Content-Type", "application/x-protobuf"), ("Content-Encoding", "snappy")],
            body: body
        )
        let echo = try Echo(try await transport().send(request).body)
        #expect(echo.method == "POST")
        #expect(echo.body == body)
        #expect(echo.header("Content-Length") == "3000")
        #expect(echo.header("Content-Type") == "application/x-protobuf")
        #expect(echo.header("Content-Encoding") == "snappy")
        #expect(echo.header("Expect") == nil)

        let bare = try Echo(
            try await transport().send(HTTPRequest(method: .post, url: server.baseURL + "/echo", body: [1, 2])).body
        )
        #expect(bare.header("Content-Type") == nil)
        #expect(bare.body == [1, 2])
        let empty = try Echo(try await transport().send(HTTPRequest(method: .post, url: server.baseURL + "/echo")).body)
        #expect(empty.method == "POST")
        #expect(empty.header("Content-Length") == "0")
    }

    @Test("PUT, PATCH, DELETE and HEAD are sent as such")
    func otherMethods() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let client = transport()
        let put = try Echo(
            try await client.send(HTTPRequest(method: .put, url: server.baseURL + "/echo", body: [9])).body
        )
        #expect(put.method == "PUT")
        #expect(put.body == [9])
        let patch = try Echo(
            try await client.send(HTTPRequest(method: .patch, url: server.baseURL + "/echo", body: [8])).body
        )
        #expect(patch.method == "PATCH")
        let delete = try Echo(try await client.send(HTTPRequest(method: .delete, url: server.baseURL + "/echo")).body)
        #expect(delete.method == "DELETE")
        let head = try await client.send(HTTPRequest(method: .head, url: server.baseURL + "/echo"))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.header("Content-Length") != nil)
    }

    @Test("any status is a response, with its body; 4xx and 5xx are not errors")
    func statusCodes() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let client = transport()
        for status in [201, 400, 404, 429, 500, 503] {
            let response = try await client.send(HTTPRequest(url: server.baseURL + "/status/\(status)"))
            #expect(response.status == status)
            #expect(response.body == Array("status \(status)".utf8))
            #expect(response.isSuccess == (status == 201))
        }
        let noContent = try await client.send(HTTPRequest(url: server.baseURL + "/status/204"))
        #expect(noContent.status == 204)
        #expect(noContent.body.isEmpty)
    }

    @Test("response headers keep their order and repeats, and look up without case")
    func responseHeaders() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let response = try await transport().send(HTTPRequest(url: server.baseURL + "/status/200"))
        #expect(response.header("x-test-header") == "Mixed-Case Value")
        #expect(response.header("X-TEST-HEADER") == "Mixed-Case Value")
        #expect(response.header("X-Multi") == "first")
        #expect(response.headerValues("x-multi") == ["first", "second"])
        #expect(response.header("X-Absent") == nil)
        #expect(response.headers.contains { $0.name == "X-Test-Header" })
        #expect(response.header("Content-Length") == "10")
    }

    @Test("a gzip-encoded response arrives decoded; without acceptGzip none is asked for")
    func gzipDecoding() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let text = Array(String(repeating: "hello gzip ", count: 200).utf8)
        let compressed = try await transport(acceptGzip: true).send(HTTPRequest(url: server.baseURL + "/gzip"))
        #expect(compressed.header("Content-Encoding") == "gzip")
        #expect(Int(compressed.header("Content-Length") ?? "") ?? .max < text.count)
        #expect(compressed.body == text)
        let plain = try await transport(acceptGzip: false).send(HTTPRequest(url: server.baseURL + "/gzip"))
        #expect(plain.header("Content-Encoding") == nil)
        #expect(plain.body == text)
    }

    @Test("a server that stalls fails the request with a timeout, the transport's or the request's")
    func timeout() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let start = ContinuousClock.now
        let error = await #expect(throws: HTTPTransportError.self) {
            try await transport(requestTimeout: .milliseconds(300)).send(
                HTTPRequest(url: server.baseURL + "/stall?seconds=30")
            )
        }
        #expect(error?.code == .timeout)
        #expect(error?.curlCode == 28)
        #expect(error?.message.contains("timed out") == true)
        #expect(ContinuousClock.now - start < .seconds(10))

        let overridden = await #expect(throws: HTTPTransportError.self) {
            try await transport(requestTimeout: .seconds(60))
                .send(HTTPRequest(url: server.baseURL + "/stall?seconds=30", timeout: .milliseconds(200)))
        }
        #expect(overridden?.code == .timeout)
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    @Test("a refused connection is a connect error naming the failure")
    func connectionRefused() async throws {
        let refusing = RefusingPort()
        defer { refusing.close() }
        let error = await #expect(throws: HTTPTransportError.self) {
            try await transport().send(HTTPRequest(url: "http://127.0.0.1:\(refusing.port)/"))
        }
        #expect(error?.code == .connect)
        #expect(error?.curlCode == 7)
        #expect(error?.message.isEmpty == false)
    }

    @Test("a malformed URL is an invalid request")
    func malformedURL() async throws {
        let error = await #expect(throws: HTTPTransportError.self) {
            try await transport().send(HTTPRequest(url: "nope://"))
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test("requests go over a unix socket when one is given; a missing socket is a connect error")
    func unixSocket() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let socketPath = directory.path + "/http.sock"
        let server = try EchoServer(socketPath: socketPath)
        defer { server.stop() }
        let client = transport(unixSocketPath: socketPath)
        let echo = try Echo(
            try await client.send(HTTPRequest(method: .post, url: "http://localhost/echo/unix", body: [7, 7])).body
        )
        #expect(echo.method == "POST")
        #expect(echo.path == "/echo/unix")
        #expect(echo.header("Host") == "localhost")
        #expect(echo.body == [7, 7])
        let second = try Echo(try await client.send(HTTPRequest(url: "http://localhost/echo")).body)
        #expect(second.connection == echo.connection)

        let missing = await #expect(throws: HTTPTransportError.self) {
            try await transport(unixSocketPath: directory.path + "/absent.sock").send(
                HTTPRequest(url: "http://localhost/")
            )
        }
        #expect(missing?.code == .connect)
    }

    @Test("sequential requests from one transport reuse one connection")
    func connectionReuse() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let client = transport()
        let first = try Echo(try await client.send(HTTPRequest(url: server.baseURL + "/echo")).body)
        _ = try await client.send(HTTPRequest(url: server.baseURL + "/status/500"))
        _ = try await client.send(HTTPRequest(method: .post, url: server.baseURL + "/status/201", body: [1]))
        let last = try Echo(try await client.send(HTTPRequest(url: server.baseURL + "/echo")).body)
        #expect(last.connection == first.connection)
        #expect(last.client_port == first.client_port)
        #expect(first.request_on_connection == 1)
        #expect(last.request_on_connection == 4)

        let other = try Echo(try await transport().send(HTTPRequest(url: server.baseURL + "/echo")).body)
        #expect(other.connection != first.connection)
    }

    @Test("concurrent sends through one transport run one at a time on its connection")
    func concurrentSends() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let client = transport()
        let baseURL = server.baseURL
        let echoes = try await withThrowingTaskGroup(of: Echo.self) { group in
            for index in 0..<20 {
                group.addTask { try Echo(try await client.send(HTTPRequest(url: baseURL + "/echo/\(index)")).body) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(echoes.map(\.path)) == Set((0..<20).map { "/echo/\($0)" }))
        #expect(Set(echoes.map(\.connection)).count == 1)
        #expect(Set(echoes.map(\.request_on_connection)) == Set(1...20))
    }

    @Test("a body over the limit fails as too large; one at the limit arrives whole")
    func responseBodyLimit() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let client = transport(maximumResponseBodyBytes: 100_000)
        let atLimit = try await client.send(HTTPRequest(url: server.baseURL + "/bytes/100000"))
        #expect(atLimit.body.count == 100_000)
        let error = await #expect(throws: HTTPTransportError.self) {
            try await client.send(HTTPRequest(url: server.baseURL + "/bytes/100001"))
        }
        #expect(error?.code == .responseTooLarge)
        let after = try await client.send(HTTPRequest(url: server.baseURL + "/bytes/10"))
        #expect(after.body == Array(repeating: UInt8(ascii: "x"), count: 10))
    }

    @Test("cancelling the sending task aborts a request in flight")
    func cancellation() async throws {
        let server = try EchoServer()
        defer { server.stop() }
        let client = transport(requestTimeout: .seconds(60))
        let url = server.baseURL + "/stall?seconds=30"
        let task = Task { try await client.send(HTTPRequest(url: url)) }
        #expect(try server.process.readLines(atLeast: 1, deadline: .now + .seconds(20)) == ["stalled"])
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(throws: HTTPTransportError.self) { try result.get() }
        #expect(((try? result.get()) == nil))
        if case .failure(let error as HTTPTransportError) = result { #expect(error.code == .cancelled) }

        // The transport stays usable.
        let response = try await client.send(HTTPRequest(url: server.baseURL + "/status/200"))
        #expect(response.status == 200)
    }

    @Test("timeouts convert to whole milliseconds, rounded up, never 0 (libcurl's 'no timeout')")
    func milliseconds() {
        #expect(CurlSession.milliseconds(.seconds(5)) == 5000)
        #expect(CurlSession.milliseconds(.milliseconds(250)) == 250)
        #expect(CurlSession.milliseconds(.microseconds(1500)) == 2)
        #expect(CurlSession.milliseconds(.nanoseconds(1)) == 1)
        #expect(CurlSession.milliseconds(.zero) == 1)
    }
}
