import Foundation  // JSONSerialization, to read bodies back as a client would
import HTTPTransport
import Logging
import ModelUsage
import NIOPosix
import ServiceLifecycle
import Spool
import StatusAPI
import Synchronization
import TestSupport
import Testing
import WatcherModel
import WatcherProto

/// The agent's two HTTP applications, wired as `run` wires them, over a real spool in a temporary
/// directory whose head holds `TenantFixtures`' two tenants; tests talk to it over loopback HTTP.
final class StatusAPIHarness: Sendable {
    let directory: TemporaryDirectory
    let spool: Spool
    let state: StatusState
    let apiURL: String
    let metricsURL: String
    private let pool: NIOThreadPool
    private let group: ServiceGroup
    private let running: Task<Void, Never>
    private let client = CurlTransport(userAgent: "resource-watcher-tests", requestTimeout: .seconds(30))

    /// The sink `/health` and `/metrics` report on (a spool consumer with no loop behind it).
    static let sinkName = "prometheus"

    /// Runs `body` against a started server and always stops it and removes its directory.
    /// `listenAddress` other than loopback: `host` is the address clients connect to.
    static func withServer<Result>(
        seed: [ResourceWatcher_V1_Batch] = [TenantFixtures.sampleBatch()],
        listenAddress: String = "127.0.0.1",
        host: String = "127.0.0.1",
        spoolOptions: SpoolOptions = SpoolOptions(),
        configure: (inout Config) -> Void = { _ in },
        _ body: (StatusAPIHarness) async throws -> Result
    ) async throws -> Result {
        let harness = try await start(
            seed: seed,
            listenAddress: listenAddress,
            host: host,
            spoolOptions: spoolOptions,
            configure: configure
        )
        do {
            let result = try await body(harness)
            await harness.stop()
            return result
        } catch {
            await harness.stop()
            throw error
        }
    }

    private init(
        directory: TemporaryDirectory,
        spool: Spool,
        pool: NIOThreadPool,
        state: StatusState,
        group: ServiceGroup,
        running: Task<Void, Never>,
        host: String
    ) {
        self.directory = directory
        self.spool = spool
        self.pool = pool
        self.state = state
        self.group = group
        self.running = running
        apiURL = "http://\(host):\(state.config.port)"
        metricsURL = "http://\(host):\(state.config.metricsPort)"
    }

    /// Appends `seed` as sample records, restores usage totals from the spool as the agent does at
    /// start, and serves; retries on fresh ports when one was taken between choosing and binding.
    private static func start(
        seed: [ResourceWatcher_V1_Batch],
        listenAddress: String,
        host: String,
        spoolOptions: SpoolOptions,
        configure: (inout Config) -> Void
    ) async throws -> StatusAPIHarness {
        var logger = Logger(label: "status-api-test")
        logger.logLevel = .error
        var lastFailure = "never started"
        for _ in 0..<5 {
            let directory = TemporaryDirectory(prefix: "rw-status")
            let pool = NIOThreadPool(numberOfThreads: 2)
            pool.start()
            let spool: Spool
            let usage = UsageLedger()
            var config: Config
            do {
                spool = try Spool(
                    directory: directory.path + "/spool",
                    options: spoolOptions,
                    consumers: [sinkName],
                    logger: logger
                )
                for batch in seed { try spool.append(kind: .sample, payload: try batch.serializedBytes()) }
                try UsageRecorder.restore(usage, from: spool)
                config = TenantFixtures.config(
                    spoolDirectory: directory.path + "/spool",
                    port: try ProcessHelpers.freeLoopbackPort(),
                    metricsPort: try ProcessHelpers.freeLoopbackPort(),
                    listenAddress: listenAddress
                )
                configure(&config)
            } catch {
                try? await pool.shutdownGracefully()
                directory.remove()
                throw error
            }
            let state = StatusState(
                config: config,
                spool: spool,
                sinks: [SinkMetrics(sink: sinkName, itemName: "samples")],
                usage: usage,
                ticks: TickStatistics(),
                version: TenantFixtures.version,
                agentID: "test-host/acme",
                ioThreadPool: pool
            )
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: StatusServer.services(state: state, logger: logger).map { .init(service: $0) },
                    logger: logger
                )
            )
            let failure = StopReason()
            let running = Task {
                do { try await group.run() } catch { failure.record("\(error)") }
                failure.record("the service group ended")
            }
            let harness = StatusAPIHarness(
                directory: directory,
                spool: spool,
                pool: pool,
                state: state,
                group: group,
                running: running,
                host: host
            )
            let serving: Bool
            do {
                serving = try await harness.waitUntilServing(failure: failure)
            } catch {
                await harness.stop()
                throw error
            }
            if serving { return harness }
            lastFailure = failure.reason ?? "not serving after 30 s"
            await harness.stop()
        }
        throw ChildProcess.Failure(description: "the status API did not start: \(lastFailure)")
    }

    /// Polls both ports (with a deadline) until they answer; false when the group stopped first.
    private func waitUntilServing(failure: StopReason) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if failure.reason != nil { return false }
            let api = try? await client.send(HTTPRequest(url: apiURL + "/health", timeout: .seconds(2)))
            let metrics = try? await client.send(
                HTTPRequest(
                    url: metricsURL + "/metrics",
                    headers: [("Authorization", "Bearer \(TenantFixtures.metricsToken)")],
                    timeout: .seconds(2)
                )
            )
            if api?.status == 200 && metrics?.status == 200 { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        await running.value
        spool.close()
        try? await pool.shutdownGracefully()
        directory.remove()
    }

    // MARK: Requests

    /// Sends `method path` to the API (or to `base`), with `Authorization: Bearer token` when given.
    func send(
        _ method: HTTPRequest.Method,
        _ path: String,
        token: String? = nil,
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        base: String? = nil
    ) async throws -> Reply {
        var fields = headers
        if let token { fields.append(("Authorization", "Bearer \(token)")) }
        let response = try await client.send(
            HTTPRequest(method: method, url: (base ?? apiURL) + path, headers: fields, body: body)
        )
        return Reply(status: response.status, headers: response.headers, body: response.body)
    }

    func get(_ path: String, token: String? = nil) async throws -> Reply {
        try await send(.get, path, token: token)
    }

    /// `POST /v1/usage` with `body` as `application/json` (or `contentType`; nil sends none).
    func postUsage(_ body: String, token: String?, contentType: String? = "application/json") async throws -> Reply {
        try await postUsage(Array(body.utf8), token: token, contentType: contentType)
    }

    func postUsage(_ body: [UInt8], token: String?, contentType: String? = "application/json") async throws -> Reply {
        try await send(
            .post,
            "/v1/usage",
            token: token,
            headers: contentType.map { [("Content-Type", $0)] } ?? [],
            body: body
        )
    }

    /// `:5221/metrics`, scraped with `token` (by default the fixtures' metrics token).
    func metricsText(token: String? = TenantFixtures.metricsToken) async throws -> Reply {
        try await send(.get, "/metrics", token: token, base: metricsURL)
    }

    /// `/metrics/models` totals of `clientID`, by model name, read with the operator token.
    func modelTotals(_ clientID: String) async throws -> [String: [String: Any]] {
        let reply = try await get("/metrics/models?client_id=\(clientID)", token: TenantFixtures.operatorToken)
        try #require(reply.status == 200, "models of \(clientID): \(reply.text)")
        let models = try #require(try reply.object()["models"] as? [[String: Any]])
        return Dictionary(models.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// Why a harness's service group ended (the first reason recorded), read while starting.
private final class StopReason: Sendable {
    private let first = Mutex<String?>(nil)

    var reason: String? { first.withLock { $0 } }

    func record(_ reason: String) { first.withLock { $0 = $0 ?? reason } }
}

/// One HTTP answer, with helpers to read its JSON.
struct Reply: Sendable {
    let status: Int
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as a JSON object.
    func object() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], "not a JSON object: \(text)")
    }

    /// The `{"error": {"code", "message"}}` shape's two strings; fails the test on any other shape.
    func error() throws -> (code: String, message: String) {
        let object = try object()
        #expect(Set(object.keys) == ["error"], "error body: \(text)")
        let error = try #require(object["error"] as? [String: Any], "error body: \(text)")
        #expect(Set(error.keys) == ["code", "message"], "error body: \(text)")
        let code = try #require(error["code"] as? String, "error.code: \(text)")
        let message = try #require(error["message"] as? String, "error.message: \(text)")
        #expect(!code.isEmpty && !message.isEmpty)
        #expect(header("Content-Type")?.hasPrefix("application/json") == true)
        return (code, message)
    }
}

/// The JSON type of a value JSONSerialization produced, in the seed's terms.
func jsonType(_ value: Any?) -> String {
    switch value {
    case nil: "missing"
    case is NSNull: "null"
    case is String: "string"
    case is [Any]: "array"
    case is [String: Any]: "object"
    case let number as NSNumber: String(cString: number.objCType) == "c" ? "boolean" : "number"
    default: "unknown"
    }
}

/// Whether `text` is an RFC 3339 UTC timestamp such as 2025-04-05T19:45:00Z.
func isRFC3339UTC(_ text: String?) -> Bool {
    guard let text else { return false }
    return text.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z/#) != nil
}
