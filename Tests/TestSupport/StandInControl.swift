import Foundation  // JSONSerialization: the stand-ins' and /health's answers
import HTTPTransport

private let controlClient = CurlTransport(
    userAgent: "resource-watcher-tests",
    connectTimeout: .seconds(2),
    requestTimeout: .seconds(10)
)

/// `GET url`, parsed as a JSON object; throws naming the URL when it is not one.
private func jsonObject(_ url: String) async throws -> [String: Any] {
    let reply = try await controlClient.send(HTTPRequest(url: url))
    guard let object = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any] else {
        throw ChildProcess.Failure(description: "GET \(url): HTTP \(reply.status), not a JSON object")
    }
    return object
}

extension FixtureServer {
    /// What a strict stand-in (`loki_server.py`, `orchestrator_server.py`) accepted:
    /// `GET /control/accepted` (see Tests/Fixtures/strict_http.py).
    public func accepted() async throws -> [String: Any] {
        try await jsonObject(baseURL + "/control/accepted")
    }

    /// The entries the Loki stand-in accepted, of `component`'s streams (every stream when nil),
    /// oldest first: (time in nanoseconds as Loki's decimal text, line).
    public func lokiEntries(component: String? = nil) async throws -> [(time: String, line: String)] {
        Self.lokiEntries(in: try await accepted(), component: component)
    }

    /// `lokiEntries` of an `accepted()` document already fetched.
    public static func lokiEntries(
        in accepted: [String: Any],
        component: String? = nil
    ) -> [(time: String, line: String)] {
        var found: [(time: String, line: String)] = []
        for stream in accepted["streams"] as? [[String: Any]] ?? [] {
            if let component, (stream["labels"] as? [String: String])?["component"] != component { continue }
            for entry in stream["entries"] as? [[Any]] ?? [] {
                guard let time = entry.first as? String, let line = entry.last as? String else { continue }
                found.append((time, line))
            }
        }
        // Decimal text of the same unit: shorter is earlier, then by text.
        return found.sorted { $0.time.count == $1.time.count ? $0.time < $1.time : $0.time.count < $1.time.count }
    }
}

extension AgentProcess {
    /// The `/health` of the agent listening on `port` (no token: an open, loopback API).
    public static func health(port: Int) async throws -> [String: Any] {
        try await jsonObject("http://127.0.0.1:\(port)/health")
    }

    /// The ticks `/health` counts (`sampler.ticks`); 0 while the agent does not answer.
    public static func ticks(port: Int) async -> Int {
        ((try? await health(port: port))?["sampler"] as? [String: Any])?["ticks"] as? Int ?? 0
    }
}
