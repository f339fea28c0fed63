import HTTPTransport

#if canImport(Glibc)
public import Glibc
#endif

/// A Prometheus (Debian's `prometheus`, server or agent) on a loopback port, with its own data
/// directory and its output in a log file: the tests' receiver (`PrometheusServer`) and the
/// bench's. `stop()` ends it, SIGTERM then SIGKILL after a grace period; it runs on every path
/// (and from `deinit`), so no Prometheus outlives its test or bench.
public final class PrometheusProcess: @unchecked Sendable {
    public let pid: pid_t
    public let port: Int
    public let logPath: String
    private var exited = false
    /// Uncompressed responses: cheaper for both ends of the polls made during a drain.
    private let http = CurlTransport(
        userAgent: "resource-watcher-tests",
        connectTimeout: .seconds(2),
        requestTimeout: .seconds(60),
        acceptGzip: false
    )

    /// Starts `/usr/bin/prometheus arguments`; its output goes to `logPath`, appended to when
    /// `appendingLog` (a restart), else replacing it.
    public init(_ arguments: [String], port: Int, logPath: String, appendingLog: Bool = false) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(
            &actions,
            1,
            logPath,
            O_WRONLY | O_CREAT | (appendingLog ? O_APPEND : O_TRUNC),
            0o644
        )
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let words = ["/usr/bin/prometheus"] + arguments
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, words[0], &actions, nil, argv, environ) == 0 else {
            throw ChildProcess.Failure(description: "cannot start \(words[0])")
        }
        self.pid = pid
        self.port = port
        self.logPath = logPath
    }

    deinit { stop() }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// What `promtool check metrics` says of an exposition (`text` is written to `file` first).
    public static func checkMetrics(_ text: String, file: String) throws -> (output: String, status: Int32) {
        writeText(text, to: file)
        return try ChildProcess(
            "/bin/sh",
            ["-c", "exec /usr/bin/promtool check metrics < '\(file)'"],
            mergeStandardError: true
        ).finish()
    }

    /// Polls `/-/ready` until it answers 200; fails when the process exits or after `timeout`.
    public func waitUntilReady(timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard isRunning else {
                throw ChildProcess.Failure(description: "prometheus exited during startup: \(logTail)")
            }
            if let response = try? await http.send(HTTPRequest(url: baseURL + "/-/ready")), response.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ChildProcess.Failure(description: "prometheus not ready after \(timeout): \(logTail)")
    }

    /// The end of the process's output, for errors (the bench deletes its directory on exit).
    private var logTail: String { String(readText(logPath).suffix(600)) }

    /// User plus system CPU seconds the process has used so far (`/proc/<pid>/stat`).
    public var cpuSeconds: Double {
        let text = readText("/proc/\(pid)/stat")
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        guard let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The sum of every series of metric `name` on the process's own `/metrics` page.
    public func metric(_ name: String) async throws -> Double {
        let response = try await http.send(HTTPRequest(url: baseURL + "/metrics"))
        guard response.status == 200 else {
            throw ChildProcess.Failure(description: "GET /metrics: HTTP \(response.status)")
        }
        // Scanned as bytes: the bench polls this during drains, and its CPU counts against ours.
        let name = Array(name.utf8)
        var total = 0.0
        for line in response.body.split(separator: UInt8(ascii: "\n")) where line.starts(with: name) {
            let rest = line.dropFirst(name.count)
            guard rest.first == UInt8(ascii: "{") || rest.first == UInt8(ascii: " "),
                let space = rest.lastIndex(of: UInt8(ascii: " ")),
                let value = Double(String(decoding: rest[(space + 1)...], as: UTF8.self))
            else { continue }
            total += value
        }
        return total
    }

    /// The value of a PromQL expression that yields one number (or nil for an empty result), at `unixMilliseconds`.
    public func query(_ promql: String, atUnixMilliseconds time: Int64) async throws -> Double? {
        let url = baseURL + "/api/v1/query?query=" + Self.percentEncoded(promql) + "&time=\(Double(time) / 1000)"
        let response = try await http.send(HTTPRequest(url: url))
        let body = String(decoding: response.body, as: UTF8.self)
        guard response.status == 200 else {
            throw ChildProcess.Failure(description: "query \(promql): HTTP \(response.status) \(body)")
        }
        // {"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764000000,"600000"]}]}}
        guard let value = body.firstRange(of: "\"value\":[") else { return nil }
        let parts = body[value.upperBound...].prefix(while: { $0 != "]" }).split(separator: ",")
        guard parts.count == 2 else { return nil }
        return Double(parts[1].filter { $0 != "\"" })
    }

    /// Ends the process: SIGTERM, then SIGKILL if it is still there after `grace`. Idempotent.
    public func stop(grace: Duration = .seconds(5)) {
        guard isRunning else { return }
        Glibc.kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning && ContinuousClock.now < deadline {
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
        guard isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exited = true
    }

    /// Kills the process at once (SIGKILL) and reaps it. Idempotent.
    public func kill() {
        guard isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exited = true
    }

    /// False once the process has exited (and been reaped).
    private var isRunning: Bool {
        if exited { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exited = true }
        return !exited
    }

    private static func percentEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.append(Character(Unicode.Scalar(byte)))
            default:
                encoded += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return encoded
    }
}

/// The whole text of a small file, or "" when it cannot be read.
public func readText(_ path: String) -> String {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return "" }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
