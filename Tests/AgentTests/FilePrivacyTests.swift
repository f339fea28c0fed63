import Foundation  // JSONSerialization, to read the Loki stand-in's and /health's answers
import HTTPTransport
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the agent writes holds every tenant's data, and the log files it reads may be in a
/// tenant's hands. The real agent binary, a strict Loki stand-in (`loki_server.py`: no Loki runs
/// here) to see which log lines leave the host, real files, links, FIFOs and owners (root runs
/// the tests; uid 65534 plays the tenant).
@Suite("Files: private spool, hostile log paths", .serialized)
struct FilePrivacyTests {
    private let http = CurlTransport(userAgent: "file-tests", connectTimeout: .seconds(2), requestTimeout: .seconds(10))
    static let tenantUID: uid_t = 65534

    private struct Setup {
        let directory: TemporaryDirectory
        let configPath: String
        let port: Int
        let metricsPort: Int
        let spool: String

        init(lokiPort: Int, logFiles: [String], spool: String? = nil) throws {
            directory = TemporaryDirectory(prefix: "rw-files")
            configPath = directory.path + "/config.json"
            port = try ProcessHelpers.freeLoopbackPort()
            metricsPort = try ProcessHelpers.freeLoopbackPort()
            self.spool = spool ?? directory.path + "/spool"
            let files = logFiles.map { "\"\($0)\"" }.joined(separator: ", ")
            writeText(
                """
                {"client_id": "acme", "poll_interval_seconds": 0.2, "port": \(port),
                 "metrics_port": \(metricsPort),
                 "spool": {"dir": "\(self.spool)"},
                 "sinks": {"loki": {"url": "http://127.0.0.1:\(lokiPort)/loki/api/v1/push"}},
                 "retry": {"min_backoff_ms": 50, "max_backoff_ms": 200},
                 "components": [{"name": "app", "process_name": "no-such-process", "log_files": [\(files)]}]}
                """,
                to: configPath
            )
        }

        func start() async throws -> AgentProcess {
            try await AgentProcess(config: configPath, logDirectory: directory.path, port: port)
        }

        /// Waits until the tailer has saved its first position as a regular file (a file already
        /// there is read from its end, so lines written before that would be history, not news).
        func waitUntilTailing() async throws {
            try await pollUntil("the tailer's first saved position, as a regular file") {
                var info = stat()
                return lstat(spool + "/tail-positions.json", &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
            }
        }

        var agentLog: String { (try? String(contentsOfFile: directory.path + "/agent.log", encoding: .utf8)) ?? "" }
    }

    private func appendText(_ text: String, to path: String) {
        guard let file = fopen(path, "a") else {
            Issue.record("cannot append to \(path)")
            return
        }
        fputs(text, file)
        fclose(file)
    }

    /// Mode bits (permissions) of every directory and file under `root`, `root` included; links
    /// are reported as such, never followed.
    private func modes(under root: String) -> [(path: String, isDirectory: Bool, mode: mode_t)] {
        var found: [(String, Bool, mode_t)] = []
        var info = stat()
        guard lstat(root, &info) == 0 else { return [] }
        let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        found.append((root, isDirectory, info.st_mode & 0o7777))
        if isDirectory, let names = try? FileManager.default.contentsOfDirectory(atPath: root) {
            for name in names.sorted() { found += modes(under: root + "/" + name) }
        }
        return found
    }

    private func health(_ setup: Setup) async throws -> [String: Any] {
        try await AgentProcess.health(port: setup.port)
    }

    @Test("a fresh start makes the spool 0700 and every file in it 0600: segments, cursors, positions, LOCK")
    func freshSpoolIsPrivate() async throws {
        let loki = try FixtureServer("loki_server.py")
        defer { loki.stop() }
        let logs = TemporaryDirectory(prefix: "rw-files-logs")
        defer { logs.remove() }
        let logFile = logs.path + "/app.log"
        writeText("", to: logFile)
        let setup = try Setup(lokiPort: loki.port, logFiles: [logFile])
        defer { setup.directory.remove() }
        // Whatever the umask of whoever starts it.
        let previousMask = umask(0o022)
        defer { umask(previousMask) }
        let agent = try await setup.start()
        defer { agent.kill() }
        try await setup.waitUntilTailing()

        appendText("private line one\n", to: logFile)
        try await pollUntil("the log line at Loki and every kind of file written") {
            let names = Set(modes(under: setup.spool).map { ($0.path as NSString).lastPathComponent })
            return try await loki.lokiEntries().map(\.line).contains("private line one")
                && names.isSuperset(of: ["LOCK", "cursors", "loki.cursor", "tail-positions.json"])
                && names.contains { $0.hasSuffix(".seg") }
        }
        let found = modes(under: setup.spool)
        for entry in found {
            #expect(entry.mode == (entry.isDirectory ? 0o700 : 0o600), "\(entry.path): \(String(entry.mode, radix: 8))")
        }
        #expect(found.count >= 5, "\(found.map(\.path))")
    }

    @Test("an existing spool directory readable by others is made private, with a warning naming it")
    func openSpoolIsTightened() async throws {
        let loki = try FixtureServer("loki_server.py")
        defer { loki.stop() }
        let setup = try Setup(lokiPort: loki.port, logFiles: [])
        defer { setup.directory.remove() }
        try #require(mkdir(setup.spool, 0o755) == 0 && chmod(setup.spool, 0o755) == 0)
        let agent = try await setup.start()
        defer { agent.kill() }
        var info = stat()
        try #require(stat(setup.spool, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
        #expect(setup.agentLog.contains("made it private"), "\(setup.agentLog)")
        #expect(setup.agentLog.contains(setup.spool))
    }

    @Test("links planted in the spool directory are never followed: nothing outside is written or truncated")
    func plantedLinksInTheSpool() async throws {
        let loki = try FixtureServer("loki_server.py")
        defer { loki.stop() }
        let logs = TemporaryDirectory(prefix: "rw-files-logs")
        defer { logs.remove() }
        let logFile = logs.path + "/app.log"
        writeText("", to: logFile)
        let setup = try Setup(lokiPort: loki.port, logFiles: [logFile])
        defer { setup.directory.remove() }
        let victims = TemporaryDirectory(prefix: "rw-files-victims")
        defer { victims.remove() }
        // The temporaries the agent replaces its cursor and positions files through, and the
        // files themselves, point at files it must not touch.
        try #require(mkdir(setup.spool, 0o700) == 0 && mkdir(setup.spool + "/cursors", 0o700) == 0)
        let planted = [
            "cursors/loki.cursor.tmp", "tail-positions.json.tmp", "tail-positions.json",
            "container-log-positions.json.tmp",
        ]
        for (index, name) in planted.enumerated() {
            let victim = victims.path + "/victim\(index)"
            writeText("do not touch \(index)\n", to: victim)
            try #require(symlink(victim, setup.spool + "/" + name) == 0, "symlink \(name)")
        }
        let agent = try await setup.start()
        defer { agent.kill() }
        try await setup.waitUntilTailing()
        appendText("after the planted links\n", to: logFile)
        try await pollUntil(
            "the line at Loki and the loki cursor written",
            context: "\(modes(under: setup.spool).map(\.path)) \(setup.agentLog)"
        ) {
            try await loki.lokiEntries().map(\.line).contains("after the planted links")
                && FileManager.default.fileExists(atPath: setup.spool + "/cursors/loki.cursor")
        }
        // Positions are saved as real files in place of the links.
        var info = stat()
        try #require(lstat(setup.spool + "/tail-positions.json", &info) == 0)
        #expect((info.st_mode & S_IFMT) == S_IFREG)
        for index in planted.indices {
            let content = try String(contentsOfFile: victims.path + "/victim\(index)", encoding: .utf8)
            #expect(content == "do not touch \(index)\n", "victim\(index) was written")
        }
    }

    @Test("a LOCK planted as a link stops the agent at start with an error naming it; its target is untouched")
    func plantedLockLink() async throws {
        let setup = try Setup(lokiPort: 9, logFiles: [])
        defer { setup.directory.remove() }
        let victim = setup.directory.path + "/victim"
        writeText("precious\n", to: victim)
        try #require(mkdir(setup.spool, 0o700) == 0)
        try #require(symlink(victim, setup.spool + "/LOCK") == 0)
        let agent = BuiltProducts.path(of: "resource-watcher")
        let result = try ChildProcess("/bin/sh", ["-c", "exec '\(agent)' run --config '\(setup.configPath)' 2>&1"])
            .finish()
        #expect(result.status != 0)
        #expect(result.output.contains("LOCK") && result.output.contains("symbolic link"), "\(result.output)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    @Test(
        "log files a tenant controls: a link to another owner's file, a hard link, a FIFO are refused and counted; an owner-matched link is read"
    )
    func hostileLogPaths() async throws {
        let loki = try FixtureServer("loki_server.py")
        defer { loki.stop() }
        let root = TemporaryDirectory(prefix: "rw-files-tenant")
        defer { root.remove() }
        // Root's secret, and the tenant's log directory (owned by the tenant, as on a shared host).
        let secret = root.path + "/secret.log"
        writeText("", to: secret)
        let tenantDirectory = root.path + "/tenant"
        try #require(mkdir(tenantDirectory, 0o755) == 0 && chown(tenantDirectory, Self.tenantUID, Self.tenantUID) == 0)
        // 1. The tenant's link to root's secret: owners differ, refused.
        let foreignLink = tenantDirectory + "/foreign.log"
        try #require(symlink(secret, foreignLink) == 0 && lchown(foreignLink, Self.tenantUID, Self.tenantUID) == 0)
        // 2. A hard link to root's secret in the tenant's directory: refused.
        let hardLink = tenantDirectory + "/hard.log"
        try #require(link(secret, hardLink) == 0)
        // 3. A FIFO where a log file should be: refused, and it never blocks a tick.
        let fifo = tenantDirectory + "/fifo.log"
        try #require(mkfifo(fifo, 0o644) == 0)
        // 4. A link whose owner is the target's: followed.
        let ownFile = root.path + "/own.log"
        writeText("", to: ownFile)
        let ownLink = root.path + "/own-link.log"
        try #require(symlink(ownFile, ownLink) == 0)

        let setup = try Setup(lokiPort: loki.port, logFiles: [foreignLink, hardLink, fifo, ownLink])
        defer { setup.directory.remove() }
        let agent = try await setup.start()
        defer { agent.kill() }
        try await setup.waitUntilTailing()
        appendText("root secret\n", to: secret)
        appendText("owner-matched line\n", to: ownFile)
        try await pollUntil("the owner-matched line at Loki") {
            try await loki.lokiEntries().map(\.line).contains("owner-matched line")
        }
        let firstTicks = try await health(setup)["sampler"].flatMap { ($0 as? [String: Any])?["ticks"] as? Int } ?? 0
        try await pollUntil("three more ticks (a FIFO does not block them)") {
            let sampler = try await health(setup)["sampler"] as? [String: Any]
            return (sampler?["ticks"] as? Int ?? 0) >= firstTicks + 3
        }
        let lines = try await loki.lokiEntries().map(\.line)
        #expect(!lines.contains { $0.contains("root secret") }, "the secret left the host: \(lines)")
        let sampler = try #require(try await health(setup)["sampler"] as? [String: Any])
        #expect(sampler["log_files_refused"] as? Int == 3, "\(sampler)")
        let metrics = try await http.send(HTTPRequest(url: "http://127.0.0.1:\(setup.metricsPort)/metrics"))
        let exposition = String(decoding: metrics.body, as: UTF8.self)
        #expect(exposition.contains("\nresource_watcher_log_files_refused 3.0\n"), "\(exposition.prefix(400))")
        for (path, reason) in [(foreignLink, "symlink owned by uid 65534"), (hardLink, "hard links"), (fifo, "FIFO")] {
            let warning = setup.agentLog.split(separator: "\n").first {
                $0.contains("log file refused") && $0.contains(path)
            }
            #expect(warning?.contains(reason) == true, "\(path): \(warning ?? "no warning")")
            #expect(
                setup.agentLog.split(separator: "\n").filter { $0.contains("log file refused") && $0.contains(path) }
                    .count == 1,
                "logged once"
            )
        }
    }
}
