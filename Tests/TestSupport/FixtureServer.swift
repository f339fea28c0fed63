#if canImport(Glibc)
import Glibc
#endif

/// A Python stand-in server from Tests/Fixtures, started on a loopback port: the script
/// prints `LISTENING <port>` once it listens. Stopped with `stop()` (SIGKILL, reaped).
public final class FixtureServer: @unchecked Sendable {
    public let process: ChildProcess
    public let port: Int

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts `script` on `port` (0: a free one the kernel picks).
    public init(_ script: String, _ arguments: [String] = [], port: Int = 0) throws {
        process = try ChildProcess("/usr/bin/env", ["python3", Fixtures.path(script), "--port", "\(port)"] + arguments)
        let line = try process.readLines(atLeast: 1, deadline: .now + .seconds(30)).first ?? ""
        guard line.hasPrefix("LISTENING "), let port = Int(line.dropFirst("LISTENING ".count)) else {
            throw ChildProcess.Failure(description: "\(script) did not start: \(line)")
        }
        self.port = port
    }

    public func stop() {
        process.kill(SIGKILL)
        _ = process.wait()
    }
}
