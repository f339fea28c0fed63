import Foundation  // String(contentsOfFile:), the agent log
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built agent with its spool on a small tmpfs of its own, and the orchestrator stand-in
/// (`orchestrator_server.py`): a watched process goes down, and later comes back, each while the
/// spool's disk is full (a real ENOSPC: a ballast file fills the tmpfs), so the batch holding the
/// transition cannot be appended. Once the disk has room again the orchestrator gets the
/// `firing` and the `resolved`, each once (issue 25). Needs root to mount (as `make test` runs).
@Suite("Alert transitions across a full spool disk", .serialized)
struct AlertsAcrossFullDiskTests {
    private struct Setup {
        let directory: TemporaryDirectory
        let filesystem: String
        let configPath: String
        let port: Int

        var ballast: String { filesystem + "/ballast" }
        var agentLog: String { directory.path + "/agent.log" }

        /// The end of the agent's log, to name what it was doing when an expectation failed.
        func logTail() -> String {
            let text = (try? String(contentsOfFile: agentLog, encoding: .utf8)) ?? ""
            return "agent.log ends: " + text.split(separator: "\n").suffix(30).joined(separator: "\n")
        }

        /// How often the agent logged `message` for component `worker`.
        func logged(_ message: String) -> Int {
            let text = (try? String(contentsOfFile: agentLog, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").filter { $0.contains(message) && $0.contains("worker") }.count
        }

        /// Fills the tmpfs with the ballast until the kernel refuses (ENOSPC).
        func fillDisk() {
            let descriptor = open(ballast, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard descriptor >= 0 else { return }
            defer { close(descriptor) }
            for size in [1 << 20, 4096, 512, 1] {
                let block = [UInt8](repeating: 0xA5, count: size)
                while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, size) }) == size {}
            }
        }

        func emptyDisk() { unlink(ballast) }

        /// The spool appends refused so far (`/health`).
        func refusedAppends() async -> Int {
            let health = try? await AgentProcess.health(port: port)
            return (health?["spool"] as? [String: Any])?["dropped_appends"] as? Int ?? 0
        }
    }

    /// The alert posts the orchestrator stand-in stored for component `worker`, in the order
    /// it took them: "<state> <alert_type>".
    private func workerAlerts(_ orchestrator: FixtureServer) async throws -> [String] {
        let alerts = try await orchestrator.accepted()["alerts"] as? [[String: Any]] ?? []
        return alerts.compactMap { body in
            guard let context = body["context"] as? [String: Any], context["component"] as? String == "worker"
            else { return nil }
            return "\(context["state"] as? String ?? "?") \(context["alert_type"] as? String ?? "?")"
        }
    }

    /// Fills the disk, waits until the agent's appends are refused (a few may still fit in the
    /// last page of a segment), runs `change`, waits until the agent logged `message` for the
    /// worker and refused a few more ticks, and checks the orchestrator has not heard of it.
    private func whileDiskFull(
        _ setup: Setup,
        _ orchestrator: FixtureServer,
        message: String,
        alertsBefore: [String],
        change: () throws -> Void
    ) async throws {
        setup.fillDisk()
        let refused = await setup.refusedAppends()
        try await pollUntil("appends refused on the full disk", context: setup.logTail()) {
            await setup.refusedAppends() >= refused + 3
        }
        let loggedBefore = setup.logged(message)
        try change()
        try await pollUntil("'\(message)' for the worker in the agent's log", context: setup.logTail()) {
            setup.logged(message) > loggedBefore
        }
        let refusedAtTransition = await setup.refusedAppends()
        try await pollUntil("more refused appends after the transition", context: setup.logTail()) {
            await setup.refusedAppends() >= refusedAtTransition + 3
        }
        // The batch with the transition was not stored: the scenario holds.
        let heard = try await workerAlerts(orchestrator)
        try #require(heard == alertsBefore, "\(setup.logTail())")
    }

    @Test("a component that goes down and comes back while the spool's disk is full: one firing, one resolved")
    func transitionsOnAFullDiskArriveOnce() async throws {
        try #require(getuid() == 0, "the test mounts a tmpfs for the spool and must run as root")
        let directory = TemporaryDirectory(prefix: "rw-fulldisk")
        defer { directory.remove() }
        let filesystem = directory.path + "/fs"
        mkdir(filesystem, 0o700)
        try #require(run("/bin/mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", filesystem]) == 0)
        defer { run("/bin/umount", ["-l", filesystem]) }
        let orchestrator = try FixtureServer("orchestrator_server.py", ["--reports-path", ""])
        defer { orchestrator.stop() }
        let setup = Setup(
            directory: directory,
            filesystem: filesystem,
            configPath: directory.path + "/config.json",
            port: try ProcessHelpers.freeLoopbackPort()
        )
        let pidFile = directory.path + "/worker.pid"
        var worker = try ChildProcess("/bin/sleep", ["3600"])
        writeText("\(worker.pid)\n", to: pidFile)
        writeText(
            """
            {"client_id": "acme", "poll_interval_seconds": 0.2, "log_level": "info",
             "port": \(setup.port), "metrics_port": \(try ProcessHelpers.freeLoopbackPort()),
             "orchestrator_url": "\(orchestrator.baseURL)",
             "spool": {"dir": "\(filesystem)/spool"},
             "retry": {"min_backoff_ms": 50, "max_backoff_ms": 300},
             "alerts": {"for_samples": 2},
             "components": [{"name": "worker", "pid_file": "\(pidFile)"}]}
            """,
            to: setup.configPath
        )
        let agent = try await AgentProcess(config: setup.configPath, logDirectory: directory.path, port: setup.port)
        defer {
            agent.kill()
            worker.kill()
            _ = worker.wait()
        }
        try await pollUntil("the agent's first ticks") { await AgentProcess.ticks(port: setup.port) >= 3 }

        try await whileDiskFull(setup, orchestrator, message: "alert firing", alertsBefore: []) {
            worker.kill()
            _ = worker.wait()
        }
        setup.emptyDisk()
        try await pollUntil("the firing at the orchestrator once the disk has room", context: setup.logTail()) {
            try await workerAlerts(orchestrator) == ["firing component_down"]
        }

        try await whileDiskFull(setup, orchestrator, message: "alert resolved", alertsBefore: ["firing component_down"])
        {
            worker = try ChildProcess("/bin/sleep", ["3600"])
            writeText("\(worker.pid)\n", to: pidFile)
        }
        setup.emptyDisk()
        try await pollUntil("the resolved at the orchestrator once the disk has room", context: setup.logTail()) {
            try await workerAlerts(orchestrator).count >= 2
        }
        // A few more ticks appended: nothing is sent again.
        let ticks = await AgentProcess.ticks(port: setup.port)
        try await pollUntil("five more ticks") { await AgentProcess.ticks(port: setup.port) >= ticks + 5 }
        #expect(try await workerAlerts(orchestrator) == ["firing component_down", "resolved component_down"])
        #expect(try await orchestrator.accepted()["duplicates"] as? Int == 0)
    }
}
