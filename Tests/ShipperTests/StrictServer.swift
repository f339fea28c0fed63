import Foundation  // JSONSerialization, to read the servers' control API
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// One of the strict stand-in servers in Tests/Fixtures (`loki_server.py`,
/// `orchestrator_server.py`): they validate requests as the real server does (built from its
/// public API docs), record every request, and answer from a fault script when given one.
final class StrictServer: @unchecked Sendable {
    let server: FixtureServer
    var process: ChildProcess { server.process }
    var port: Int { server.port }
    private let control = CurlTransport(userAgent: "resource-watcher-tests", requestTimeout: .seconds(10))

    var baseURL: String { server.baseURL }

    init(_ script: String, _ arguments: [String] = []) throws {
        server = try FixtureServer(script, arguments)
    }

    func stop() { server.stop() }

    /// Answers the next ingest requests from `script` (status, optional Retry-After), then every
    /// later one with `then` (nil: validate and accept as normal).
    func setFaults(_ script: [(status: Int, retryAfter: String?)], then: Int? = nil) async throws {
        func response(_ status: Int, _ retryAfter: String?) -> String {
            "{\"status\": \(status)" + (retryAfter.map { ", \"retry_after\": \"\($0)\"" } ?? "") + "}"
        }
        let body =
            "{\"script\": [" + script.map { response($0.status, $0.retryAfter) }.joined(separator: ",")
            + "], \"then\": " + (then.map { response($0, nil) } ?? "null") + "}"
        let answer = try await control.send(
            HTTPRequest(
                method: .post,
                url: baseURL + "/control/faults",
                headers: [("Content-Type", "application/json")],
                body: Array(body.utf8)
            )
        )
        try #require(answer.isSuccess, "setting faults: HTTP \(answer.status)")
    }

    /// Answers every ingest request with 204 after `delayMilliseconds` (a slow destination).
    func setSlowAnswers(delayMilliseconds: Int) async throws {
        let body = "{\"script\": [], \"then\": {\"status\": 204, \"delay_ms\": \(delayMilliseconds)}}"
        let answer = try await control.send(
            HTTPRequest(
                method: .post,
                url: baseURL + "/control/faults",
                headers: [("Content-Type", "application/json")],
                body: Array(body.utf8)
            )
        )
        try #require(answer.isSuccess, "setting a delay: HTTP \(answer.status)")
    }

    /// Polls until `count` ingest requests have arrived (answered or still in flight).
    func waitForRequestsStarted(_ count: Int) async throws {
        try await waitForRequests("\(count) requests") { $0.count >= count }
    }

    /// Every ingest request received, in order, as the server logged it.
    func requests() async throws -> [[String: Any]] {
        let answer = try await control.send(HTTPRequest(url: baseURL + "/control/requests"))
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [[String: Any]])
    }

    /// What the server accepted.
    func accepted() async throws -> [String: Any] {
        let answer = try await control.send(HTTPRequest(url: baseURL + "/control/accepted"))
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
    }

    /// Polls (with a deadline) until `condition` holds for the request log; returns the log.
    @discardableResult
    func waitForRequests(
        timeout: Duration = .seconds(30),
        _ what: String,
        until condition: ([[String: Any]]) -> Bool
    ) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let log = try await requests()
            if condition(log) { return log }
            if ContinuousClock.now >= deadline {
                Issue.record("timed out waiting for \(what); \(log.count) requests: \(log.map { $0["status"] ?? "?" })")
                return log
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
