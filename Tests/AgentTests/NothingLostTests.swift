import Foundation  // JSONSerialization, to read the Loki stand-in's and /health's answers
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Loss and duplication paths (issue 16), each a scenario with the real agent binary, real
/// files and a strict Loki stand-in (`loki_server.py`: no Loki runs here; like Loki it keeps one
/// of several entries with the same stream, timestamp and line, and refuses a push without a
/// tenant when started with `--require-tenant`, as a multi-tenant Loki does).
@Suite("Nothing lost, nothing told twice", .serialized)
struct NothingLostTests {
    private let http = CurlTransport(userAgent: "loss-tests", connectTimeout: .seconds(2), requestTimeout: .seconds(10))

    private struct Setup {
        let directory: TemporaryDirectory
        let configPath: String
        let port: Int
        let logFile: String

        var processName = "no-such-process"

        init(lokiPort: Int, processName: String = "no-such-process") throws {
            self.processName = processName
            directory = TemporaryDirectory(prefix: "rw-loss")
            configPath = directory.path + "/config.json"
            port = try ProcessHelpers.freeLoopbackPort()
            logFile = directory.path + "/app.log"
            writeText("", to: logFile)
            try write(lokiPort: lokiPort, tenantHeader: false)
        }

        func write(lokiPort: Int, tenantHeader: Bool) throws {
            writeText(
                """
                {"client_id": "acme", "poll_interval_seconds": 0.2, "port": \(port),
                 "metrics_port": \(try ProcessHelpers.freeLoopbackPort()),
                 "spool": {"dir": "\(directory.path)/spool"},
                 "sinks": {"loki": {"url": "http://127.0.0.1:\(lokiPort)/loki/api/v1/push", "tenant_header": \(tenantHeader)}},
                 "retry": {"min_backoff_ms": 50, "max_backoff_ms": 300},
                 "components": [{"name": "app", "process_name": "\(processName)", "log_files": ["\(logFile)"]}]}
                """,
                to: configPath
            )
        }

        func start() async throws -> AgentProcess {
            try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        }

        /// Waits until the tailer has saved its first position (a file already there is read from
        /// its end, so lines written before that would be history, not news).
        func waitUntilTailing() async throws {
            try await pollUntil("the tailer's first saved position") {
                access(directory.path + "/spool/tail-positions.json", F_OK) == 0
            }
        }

        func append(_ text: String) {
            guard let file = fopen(logFile, "a") else { return }
            fputs(text, file)
            fclose(file)
        }
    }

    /// The alert transitions (`state`, `alert_type`) Loki holds for component `app`, in order.
    private func alertEvents(_ loki: FixtureServer) async throws -> [(state: String, type: String)] {
        try await loki.lokiEntries(component: "app").compactMap { entry in
            guard let event = try? JSONSerialization.jsonObject(with: Data(entry.line.utf8)) as? [String: Any],
                event["event"] as? String == "alert"
            else { return nil }
            return (event["state"] as? String ?? "", event["alert_type"] as? String ?? "")
        }
    }

    private func ticks(_ setup: Setup) async -> Int { await AgentProcess.ticks(port: setup.port) }

    /// The lines the Loki stand-in accepted for component `app`, and how many entries it
    /// discarded as duplicates of ones it had.
    private func accepted(_ loki: FixtureServer) async throws -> (lines: [String], duplicates: Int) {
        let document = try await loki.accepted()
        let lines = FixtureServer.lokiEntries(in: document, component: "app").map(\.line)
        // The component's alert transitions share its stream; these scenarios are about its lines.
        return (lines.filter { !$0.hasPrefix(#"{"event":"alert""#) }, document["duplicate_entries"] as? Int ?? -1)
    }

    @Test("identical lines in one tick: a line written three times arrives three times")
    func identicalLinesInOneTick() async throws {
        let loki = try FixtureServer("loki_server.py")
        defer { loki.stop() }
        let setup = try Setup(lokiPort: loki.port)
        defer { setup.directory.remove() }
        try setup.write(lokiPort: loki.port, tenantHeader: false)
        let agent = try await setup.start()
        defer { agent.kill() }
        try await setup.waitUntilTailing()
        setup.append("same line\nsame line\nsame line\nlast\n")
        try await pollUntil("the last line at Loki") { try await accepted(loki).lines.contains("last") }
        let (lines, duplicates) = try await accepted(loki)
        #expect(lines.filter { $0 == "same line" }.count == 3, "\(lines)")
        #expect(duplicates == 0)
    }

    @Test("a wrong token must not empty the backlog: refused pushes are kept and arrive once the config is fixed")
    func wrongTokenKeepsTheBacklog() async throws {
        // A Loki that needs a tenant (X-Scope-OrgID); the agent first runs without sending one.
        let loki = try FixtureServer("loki_server.py", ["--require-tenant"])
        defer { loki.stop() }
        let setup = try Setup(lokiPort: loki.port)
        defer { setup.directory.remove() }
        var agent = try await setup.start()
        try await setup.waitUntilTailing()
        setup.append((1...5).map { "kept line \($0)\n" }.joined())
        // The refusal shows on /health, and nothing is dropped.
        try await pollUntil("loki failing with the 401 on /health") {
            let reply = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(setup.port)/health"))
            let health = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
            let sinks = health?["sinks"] as? [[String: Any]] ?? []
            return sinks.contains { ($0["last_error"] as? String)?.contains("401") == true }
        }
        agent.kill(SIGTERM)
        #expect(
            (try? String(contentsOfFile: setup.directory.path + "/agent.log", encoding: .utf8))?
                .contains("error sink refuses the agent") == true
        )
        #expect(try await accepted(loki).lines.isEmpty)
        // The operator fixes the config and restarts: the backlog arrives, each line once.
        try setup.write(lokiPort: loki.port, tenantHeader: true)
        agent = try await setup.start()
        defer { agent.kill() }
        try await pollUntil("the five lines at Loki") { try await accepted(loki).lines.count >= 5 }
        let lines = try await accepted(loki).lines
        #expect(lines == (1...5).map { "kept line \($0)" }, "\(lines)")
    }

    @Test(
        "alert state survives a restart: kill -9 while an alert is active, then recovery: one firing and one resolved"
    )
    func alertStateSurvivesARestart() async throws {
        let loki = try FixtureServer("loki_server.py")
        defer { loki.stop() }
        // The component is a process of its own name; it is not running at first (down).
        let name = "rwa\(getpid())"
        let setup = try Setup(lokiPort: loki.port, processName: name)
        defer { setup.directory.remove() }
        try setup.write(lokiPort: loki.port, tenantHeader: false)
        var agent = try await setup.start()
        try await pollUntil("component_down firing at Loki") {
            try await alertEvents(loki).contains { $0.state == "firing" && $0.type == "component_down" }
        }
        agent.kill(SIGKILL)
        agent = try await setup.start()
        defer { agent.kill() }
        // Several ticks after the restart, still down: no second firing.
        let restartedAt = await ticks(setup)
        try await pollUntil("five ticks after the restart") { await ticks(setup) >= restartedAt + 5 }
        // The component comes up: the restarted agent resolves the alert it did not fire.
        let binary = setup.directory.path + "/" + name
        try #require(link("/bin/sleep", binary) == 0 || symlink("/bin/sleep", binary) == 0)
        let process = try ChildProcess(binary, ["60"])
        defer {
            process.kill(SIGKILL)
            _ = process.wait()
        }
        try await pollUntil("component_down resolved at Loki") {
            try await alertEvents(loki).contains { $0.state == "resolved" && $0.type == "component_down" }
        }
        let events = try await alertEvents(loki).filter { $0.type == "component_down" }
        #expect(events.map(\.state) == ["firing", "resolved"], "\(events)")
    }
}
