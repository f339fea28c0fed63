import StatusAPI
import Testing
import WatcherModel

/// `resource-watcher status`'s text, from API answers as the agent writes them.
@Suite("status report")
struct StatusReportTests {
    private func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test("an unreachable Docker engine is the first thing the report says; component reasons follow the table")
    func dockerFirst() throws {
        let health = try json(
            """
            {"status": "degraded", "version": "0.1.0", "reasons": ["docker: cannot connect"],
             "sources": [{"name": "docker", "status": "failing", "message": "cannot connect to the Docker engine at unix:///run/docker.sock: refused",
                          "since": "2026-12-01T08:00:00Z"}]}
            """
        )
        let components = try json(
            """
            {"metrics": [{"component": "ollama", "resources": {"cpu_usage": 0, "memory_usage": 0, "memory_usage_percent": 0,
                          "disk_usage": 0, "network_in": 0, "network_out": 0}, "status": "unknown",
                          "status_reason": "cannot connect to the Docker engine at unix:///run/docker.sock: refused"}]}
            """
        )
        let text = StatusReport(baseURL: "http://127.0.0.1:5220", clientID: "acme")
            .render(health: health, components: components, alerts: try json(#"{"alerts": []}"#))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(
            lines.first
                == "Docker: cannot connect to the Docker engine at unix:///run/docker.sock: refused (since 2026-12-01T08:00:00Z)"
        )
        #expect(lines.contains("resource-watcher at http://127.0.0.1:5220 is degraded"))
        #expect(
            lines.contains(
                "  ollama is unknown: cannot connect to the Docker engine at unix:///run/docker.sock: refused"
            )
        )
    }

    @Test("a healthy agent's report starts with its address and says nothing of Docker")
    func healthy() throws {
        let text = StatusReport(baseURL: "http://127.0.0.1:5220", clientID: "acme").render(
            health: try json(#"{"status": "healthy", "version": "0.1.0", "sources": []}"#),
            components: try json(#"{"metrics": []}"#),
            alerts: try json(#"{"alerts": []}"#)
        )
        #expect(text.hasPrefix("resource-watcher at http://127.0.0.1:5220 is healthy\n"))
        #expect(!text.contains("Docker"))
    }
}
