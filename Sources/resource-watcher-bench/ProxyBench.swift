import Hummingbird
import Logging
import MeteringProxy
import ModelUsage
import NIOCore
import NIOPosix
import ServiceLifecycle
import Spool
import TestSupport
import WatcherModel

#if canImport(Glibc)
import Glibc
#endif

/// The metering proxy's cost: the same requests to an in-process Ollama-shaped upstream, direct
/// and through the proxy, in the same run. wrk measures latency (one connection: p50, p99) and
/// throughput (32 connections); curl measures the time to the first byte of a streamed response.
struct ProxyBench {
    static let duration = "5s"
    static let connections = 32
    static let firstByteSamples = 200
    let workDirectory: String
    let logger: Logger

    /// The upstream: `/api/generate` answers a fixed non-streamed object, or with `"stream":true`
    /// twenty NDJSON chunks and a final object, as Ollama does.
    private static func upstreamRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let final =
            #"{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","response":"","done":true,"done_reason":"stop","total_duration":54000000,"prompt_eval_count":6,"eval_count":20}"#
        let whole =
            #"{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","response":"The sky is blue because of Rayleigh scattering.","done":true,"done_reason":"stop","total_duration":54000000,"prompt_eval_count":6,"eval_count":9}"#
        let chunk = #"{"model":"llama3.2","created_at":"2025-01-01T00:00:00Z","response":" tok","done":false}"# + "\n"
        router.post("/api/generate") { request, _ in
            let body = try await request.body.collect(upTo: 1 << 20)
            if Self.asksToStream(Array(body.readableBytesView)) {
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/x-ndjson"],
                    body: ResponseBody { writer in
                        for _ in 0..<20 { try await writer.write(ByteBuffer(string: chunk)) }
                        try await writer.write(ByteBuffer(string: final + "\n"))
                        try await writer.finish(nil)
                    }
                )
            }
            return Response(
                status: .ok,
                headers: [.contentType: "application/json; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: whole))
            )
        }
        return router
    }

    /// Whether a request body has `"stream":true` (bytes, not Foundation's String search: the
    /// upstream must cost as little as possible, it is on both sides of the comparison).
    private static func asksToStream(_ body: [UInt8]) -> Bool {
        let needle = Array(#""stream":true"#.utf8)
        guard body.count >= needle.count else { return false }
        for start in 0...(body.count - needle.count) where body[start] == needle[0] {
            if body[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
    }

    func run() async throws {
        guard access("/usr/bin/wrk", X_OK) == 0 else {
            throw BenchFailure("wrk is not installed (make deps installs it)")
        }
        let directory = workDirectory + "/proxy"
        _ = try captureOutput("/bin/rm", ["-rf", directory])
        mkdir(directory, 0o755)
        defer { _ = try? captureOutput("/bin/rm", ["-rf", directory]) }

        let upstreamPort = try ProcessHelpers.freeLoopbackPort()
        var config = Config()
        config.port = try ProcessHelpers.freeLoopbackPort()
        config.metricsPort = try ProcessHelpers.freeLoopbackPort()
        config.spool.directory = directory + "/spool"
        let proxyPort = try ProcessHelpers.freeLoopbackPort()
        config.components = [
            ComponentConfig(
                name: "ollama",
                processName: "ollama",
                proxy: .init(listenPort: proxyPort, upstream: "http://127.0.0.1:\(upstreamPort)", provider: .ollama)
            )
        ]
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let spool = try Spool(directory: config.spool.directory, logger: logger)
        let ledger = UsageLedger()
        let recorder = UsageRecorder(
            ledger: ledger,
            spool: spool,
            agentID: "bench/default",
            ioThreadPool: pool,
            logger: logger
        )
        let upstream = Application(
            router: Self.upstreamRouter(),
            configuration: .init(address: .hostname("127.0.0.1", port: upstreamPort), serverName: nil),
            logger: logger
        )
        let services: [any Service] =
            [upstream]
            + MeteringProxy.services(
                config: config,
                recorder: recorder,
                metrics: MeteringProxy.metrics(for: config),
                logger: logger
            )
        let group = ServiceGroup(services: services, logger: logger)
        let server = Task { try await group.run() }
        defer { server.cancel() }

        let direct = "http://127.0.0.1:\(upstreamPort)/api/generate"
        let proxied = "http://127.0.0.1:\(proxyPort)/api/generate"
        try await waitUntilAnswering(direct)
        try await waitUntilAnswering(proxied)
        if let seconds = getenv("PROXY_BENCH_SERVE").flatMap({ Int(String(cString: $0)) }) {
            print("serving: direct \(direct) proxied \(proxied) for \(seconds) s")
            try await Task.sleep(for: .seconds(seconds))
        }
        let script = directory + "/post.lua"
        writeText(
            """
            wrk.method = "POST"
            wrk.body = '{"model":"llama3.2","prompt":"why is the sky blue","stream":false}'
            wrk.headers["Content-Type"] = "application/json"
            """,
            to: script
        )

        // Latency: one connection, one request at a time.
        let directLatency = try runWrk(direct, threads: 1, connections: 1, duration: Self.duration, script: script)
        let proxiedLatency = try runWrk(proxied, threads: 1, connections: 1, duration: Self.duration, script: script)
        // Throughput: 32 connections.
        let directLoad = try runWrk(
            direct,
            threads: 2,
            connections: Self.connections,
            duration: Self.duration,
            script: script
        )
        let proxiedLoad = try runWrk(
            proxied,
            threads: 2,
            connections: Self.connections,
            duration: Self.duration,
            script: script
        )
        // Time to first byte of a streamed response.
        let directFirstByte = try firstByteMilliseconds(direct)
        let proxiedFirstByte = try firstByteMilliseconds(proxied)
        await recorder.drain()
        let counted = ledger.snapshot().reduce(UInt64(0)) { $0 + $1.requestsCount }

        await group.triggerGracefulShutdown()
        _ = try? await server.value
        spool.close()
        try? await pool.shutdownGracefully()

        print(
            "== metering proxy: POST /api/generate to an in-process Ollama-shaped upstream, direct vs through the proxy"
        )
        print(
            "   latency (wrk -c1 -d\(Self.duration)): direct p50 \(format(directLatency.p50Milliseconds, digits: 3)) ms, p99 \(format(directLatency.p99Milliseconds, digits: 3)) ms"
                + "  | proxied p50 \(format(proxiedLatency.p50Milliseconds, digits: 3)) ms, p99 \(format(proxiedLatency.p99Milliseconds, digits: 3)) ms"
                + "  | added p50 \(format(proxiedLatency.p50Milliseconds - directLatency.p50Milliseconds, digits: 3)) ms, p99 \(format(proxiedLatency.p99Milliseconds - directLatency.p99Milliseconds, digits: 3)) ms (target <= 1 ms at p99)"
        )
        print(
            "   throughput (wrk -t2 -c\(Self.connections) -d\(Self.duration)): direct \(Int(directLoad.requestsPerSecond)) requests/s"
                + "  | proxied \(Int(proxiedLoad.requestsPerSecond)) requests/s, \(proxiedLoad.non2xx) non-2xx"
                + "  | ratio \(format(proxiedLoad.requestsPerSecond / directLoad.requestsPerSecond, digits: 2))x (target >= 5000 requests/s)"
        )
        print(
            "   streamed response, time to first byte (\(Self.firstByteSamples) × curl): direct p50 \(format(directFirstByte.p50, digits: 3)) ms, p99 \(format(directFirstByte.p99, digits: 3)) ms"
                + "  | proxied p50 \(format(proxiedFirstByte.p50, digits: 3)) ms, p99 \(format(proxiedFirstByte.p99, digits: 3)) ms"
                + "  | added p50 \(format(proxiedFirstByte.p50 - directFirstByte.p50, digits: 3)) ms"
        )
        print("   requests the proxy counted as model use: \(counted)")
    }

    /// Median and 99th percentile of curl's time to first byte for streamed requests to `url`.
    private func firstByteMilliseconds(_ url: String) throws -> (p50: Double, p99: Double) {
        var samples: [Double] = []
        for _ in 0..<Self.firstByteSamples {
            let seconds = try captureOutput(
                "/usr/bin/curl",
                [
                    "-s", "-o", "/dev/null", "-w", "%{time_starttransfer}", "-H", "Content-Type: application/json",
                    "--data-binary", #"{"model":"llama3.2","prompt":"count to twenty","stream":true}"#, url,
                ]
            )
            guard let value = Double(seconds) else { throw BenchFailure("curl printed \(seconds)") }
            samples.append(value * 1000)
        }
        samples.sort()
        return (samples[samples.count / 2], samples[samples.count * 99 / 100])
    }

    private func waitUntilAnswering(_ url: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let status = try captureOutput(
                "/usr/bin/curl",
                [
                    "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                    "--data-binary", #"{"model":"llama3.2","prompt":"hi","stream":false}"#, url,
                ]
            )
            if status == "200" { return }
            try await Task.sleep(for: .milliseconds(50))  // the next poll
        }
        throw BenchFailure("nothing answered at \(url)")
    }
}
