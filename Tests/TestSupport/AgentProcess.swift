import HTTPTransport

#if canImport(Glibc)
public import Glibc
#endif

/// The built agent running `run --config <path>`, its output appended to `<directory>/agent.log`,
/// started once its `/health` answers on `port`.
public final class AgentProcess: @unchecked Sendable {
    public let process: ChildProcess
    public let port: Int
    private let client = CurlTransport(
        userAgent: "agent-tests",
        connectTimeout: .seconds(1),
        requestTimeout: .seconds(5)
    )

    public init(config configPath: String, logDirectory: String, port: Int) async throws {
        // RESOURCE_WATCHER_TEST_AGENT runs another build of the agent (an older commit's, to check
        // that a test fails without the change it covers); unset, the one built with the tests.
        let agent =
            getenv("RESOURCE_WATCHER_TEST_AGENT").map { String(cString: $0) }
            ?? BuiltProducts.path(of: "resource-watcher")
        process = try ChildProcess(
            "/bin/sh",
            ["-c", "exec '\(agent)' run --config '\(configPath)' >>'\(logDirectory)/agent.log' 2>&1"]
        )
        self.port = port
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let reply = try? await client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/health")),
                reply.status == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))  // the next poll, not a synchronisation
        }
        process.kill(SIGKILL)
        let status = process.wait()
        // The log's end names the reason (a port taken, a config refused), and the directory is
        // usually removed by the test's cleanup before anyone can look.
        var log = ""
        if let file = fopen(logDirectory + "/agent.log", "r") {
            var buffer = [UInt8](repeating: 0, count: 4096)
            fseek(file, -4096, SEEK_END)
            let count = fread(&buffer, 1, buffer.count, file)
            fclose(file)
            log = String(decoding: buffer.prefix(count), as: UTF8.self)
        }
        throw ChildProcess.Failure(
            description:
                "the agent did not answer on port \(port) (exit status \(status) after SIGKILL); agent.log ends: \(log)"
        )
    }

    /// The agent's peak resident memory so far (VmHWM), in KiB.
    public func peakResidentKiB() -> Int? { Self.status(of: process.pid, field: "VmHWM:") }

    /// The agent's resident memory now (VmRSS), in KiB.
    public func residentKiB() -> Int? { Self.status(of: process.pid, field: "VmRSS:") }

    public func kill(_ signal: Int32 = SIGKILL) {
        process.kill(signal)
        _ = process.wait()
    }

    private static func status(of pid: pid_t, field: String) -> Int? {
        guard let file = fopen("/proc/\(pid)/status", "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix(field) else { continue }
            return Int(text.dropFirst(field.count).split { $0 == " " || $0 == "\t" }.first ?? "")
        }
        return nil
    }
}
