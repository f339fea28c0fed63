import Foundation  // JSONSerialization, to read Prometheus' query API as a client would
import HTTPTransport

#if canImport(Glibc)
import Glibc
#endif

/// A real Prometheus (Debian's `prometheus` package) for integration tests: a remote-write
/// receiver on a loopback port with its own data directory, stopped and started again on the
/// same port and data, as an outage test needs. Its log goes to `<directory>/prometheus.log`.
public final class PrometheusServer: @unchecked Sendable {
    public let directory: String
    public let port: Int
    public let extraArguments: [String]
    private var process: PrometheusProcess?
    private let client = CurlTransport(userAgent: "resource-watcher-tests", requestTimeout: .seconds(10))

    /// The remote-write endpoint.
    public var writeURL: String { "http://127.0.0.1:\(port)/api/v1/write" }
    /// The server's base URL.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts a Prometheus with `scrapeConfig` (YAML under `scrape_configs:`, empty for none) and
    /// the rule files `ruleFiles` (evaluated every second), and waits until it is ready.
    public init(
        directory: String,
        scrapeConfigs: String = "",
        ruleFiles: [String] = [],
        extraArguments: [String] = []
    ) async throws {
        self.directory = directory
        self.port = try ProcessHelpers.freeLoopbackPort()
        self.extraArguments = extraArguments
        var config = "global:\n  scrape_interval: 1s\n  evaluation_interval: \(ruleFiles.isEmpty ? "1m" : "1s")\n"
        if !ruleFiles.isEmpty { config += "rule_files:\n" + ruleFiles.map { "  - '\($0)'\n" }.joined() }
        if !scrapeConfigs.isEmpty { config += "scrape_configs:\n" + scrapeConfigs }
        writeText(config, to: directory + "/prometheus.yml")
        try await start()
    }

    /// Starts (again) on the same port and data directory, and waits for `/-/ready`.
    public func start() async throws {
        precondition(process == nil, "already running")
        let arguments =
            [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver",
            ] + extraArguments
        let started = try PrometheusProcess(
            arguments,
            port: port,
            logPath: directory + "/prometheus.log",
            appendingLog: true
        )
        process = started
        try await started.waitUntilReady()
    }

    /// SIGTERM, and waits until it has exited (its data flushed, the port free).
    public func stop() {
        process?.stop(grace: .seconds(120))
        process = nil
    }

    /// Kills it at once (test cleanup).
    public func kill() {
        process?.kill()
        process = nil
    }

    /// The `result` of an instant query, evaluated at `time` (Unix seconds) or now.
    public func query(_ promql: String, at time: Double? = nil) async throws -> [[String: Any]] {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "+&=")
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: allowed)!
        let url = baseURL + "/api/v1/query?query=\(encoded)" + (time.map { "&time=\($0)" } ?? "")
        let response = try await client.send(HTTPRequest(url: url))
        guard response.status == 200,
            let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let data = body["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
        else {
            throw ChildProcess.Failure(
                description:
                    "query \(promql): HTTP \(response.status) \(String(decoding: response.body, as: UTF8.self))"
            )
        }
        return result
    }

    /// The `data` of `GET <path>` on Prometheus' HTTP API (`/api/v1/rules`, ...).
    public func api(_ path: String) async throws -> [String: Any] {
        let response = try await client.send(HTTPRequest(url: baseURL + path))
        guard response.status == 200,
            let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let data = body["data"] as? [String: Any]
        else {
            throw ChildProcess.Failure(
                description: "GET \(path): HTTP \(response.status) \(String(decoding: response.body, as: UTF8.self))"
            )
        }
        return data
    }

    /// Raw sample timestamps (Unix ms) of every series a range-vector query returns, by the
    /// series' `component` label and metric name: `metric[window]` gives raw samples, unlike
    /// `query_range`, which fills gaps.
    public func rawSampleTimes(_ rangeQuery: String, at time: Double? = nil) async throws -> [String: [Int64]] {
        var series: [String: [Int64]] = [:]
        for item in try await query(rangeQuery, at: time) {
            let labels = item["metric"] as? [String: String] ?? [:]
            let key = (labels["__name__"] ?? "") + "{" + (labels["component"] ?? "") + "}"
            let values = item["values"] as? [[Any]] ?? []
            series[key] = values.compactMap { ($0.first as? Double).map { Int64(($0 * 1000).rounded()) } }
        }
        return series
    }
}
