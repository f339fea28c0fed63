import AsyncHTTPClient
import Hummingbird
import HummingbirdCore
public import Logging
public import ModelUsage
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import NIOPosix
public import ServiceLifecycle
import StatusAPI
public import WatcherModel
import WatcherProto

/// The metering proxies (DESIGN §5): one HTTP server per component with a `proxy`, on the
/// agent's `listen_address` and the proxy's `listen_port`, in front of an Ollama or
/// OpenAI-compatible server. Every request and response passes through unchanged and streamed
/// chunk by chunk (hop-by-hop headers excepted); the responses of model calls are read on the
/// way for model, tokens, latency and time to first byte, which go to the `UsageRecorder`.
public enum MeteringProxy {
    /// One server per proxied component, plus the HTTP client they share (shut down last).
    ///
    /// All of them, client connections, upstream connections and the Swift tasks that answer,
    /// run on event loop threads of their own, and a proxied request stays on its connection's
    /// loop (Hummingbird's connection task, the upstream exchange and the response writer all run
    /// there through `EventLoopGroupTaskExecutor`). Every hop between the event loops and the
    /// cooperative pool is a thread wake-up, and on loopback those wake-ups were most of what the
    /// proxy added to a request's latency.
    ///
    /// Each server is hardened like the status API: the same `ConnectionGuard`
    /// under the agent's `http` limits, only origin-form request heads framed one way
    /// (`ProxyRequestGuard`), a request body cap (`max_body_bytes`), and bearer tokens when the
    /// proxy has `require_token`. What is refused is counted in `sourceLimits`.
    public static func services(
        config: Config,
        recorder: UsageRecorder,
        metrics: [ProxyMetrics],
        logger: Logger,
        sourceLimits: SourceLimits = SourceLimits()
    ) -> [any Service] {
        let proxied = config.components.filter { $0.proxy != nil }
        guard !proxied.isEmpty else { return [] }
        let client = UpstreamClient()
        let authenticator = TokenAuthenticator(auth: config.auth)
        var services: [any Service] = [client]
        for component in proxied {
            guard let proxy = component.proxy,
                let counters = metrics.first(where: { $0.component == component.name })
            else { continue }
            let responder = ProxyResponder(
                component: component.name,
                clientID: component.clientID,
                proxy: proxy,
                client: client.client,
                recorder: recorder,
                metrics: counters,
                logger: logger,
                authenticator: authenticator,
                sourceLimits: sourceLimits
            )
            services.append(
                ProxyServer(
                    application: Application(
                        responder: responder,
                        server: server(component: component.name, proxy: proxy, config: config, limits: sourceLimits),
                        configuration: .init(
                            address: .hostname(config.listenAddress, port: proxy.listenPort),
                            serverName: nil
                        ),
                        eventLoopGroupProvider: .shared(client.eventLoopGroup),
                        logger: logger
                    ),
                    executor: client.executor
                )
            )
        }
        return services
    }

    /// One proxy's HTTP/1.1 server: connections admitted and timed by a `ConnectionRegistry`
    /// under `config.http`, heads checked by a `ProxyRequestGuard` as they come off the decoder.
    static func server(
        component: String,
        proxy: ComponentConfig.Proxy,
        config: Config,
        limits: SourceLimits
    ) -> HTTPServerBuilder {
        let registry = ConnectionRegistry(server: "proxy", limits: config.http) { reason in
            switch reason {
            case .evicted, .overCapacity:
                limits.note(
                    component: component,
                    reason: "proxy_connections_over_limit",
                    detail: "a proxy keeps at most http.max_connections (\(config.http.maxConnections)) connections"
                )
            case .headTimeout, .bodyTimeout:
                limits.note(
                    component: component,
                    reason: "proxy_request_timeout",
                    detail: "a request head must arrive within http.head_timeout_seconds "
                        + "(\(config.http.headTimeoutSeconds)) and its body within http.body_timeout_seconds "
                        + "(\(config.http.bodyTimeoutSeconds))"
                )
            case .idleTimeout:
                break  // an idle kept-alive connection closed is routine, not a refusal
            }
        }
        let maxBodyBytes = proxy.maxBodyBytes
        return registry.http1Server { pipeline in
            let codec = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
            let requestGuard = ProxyRequestGuard(maxBodyBytes: maxBodyBytes) { refusal in
                limits.note(component: component, reason: refusal.reason, detail: refusal.message)
            }
            try pipeline.addHandler(requestGuard, position: .before(codec))
        }
    }

    /// A `ProxyMetrics` for each component with a proxy.
    public static func metrics(for config: Config) -> [ProxyMetrics] {
        config.components.compactMap { component in
            component.proxy.map {
                ProxyMetrics(component: component.name, clientID: component.clientID, listenPort: $0.listenPort)
            }
        }
    }
}

/// The streaming HTTP client every proxy sends upstream with: responses are not decompressed,
/// redirects not followed (the client sees them), connections kept and reused. It owns the
/// proxies' event loops, shut down after the client.
final class UpstreamClient: Service, Sendable {
    /// Threads the proxies run on: enough for thousands of requests a second, and no more (a
    /// model call takes seconds; the agent must stay light on the host it watches).
    static let threads = min(2, System.coreCount)

    let eventLoopGroup: MultiThreadedEventLoopGroup
    let executor: EventLoopGroupTaskExecutor
    let client: HTTPClient

    init() {
        eventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: Self.threads)
        executor = EventLoopGroupTaskExecutor(group: eventLoopGroup)
        var configuration = HTTPClient.Configuration()
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(600))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: 256
        )
        configuration.httpVersion = .http1Only
        configuration.tracing.tracer = nil  // no span per proxied request
        client = HTTPClient(eventLoopGroupProvider: .shared(eventLoopGroup), configuration: configuration)
    }

    func run() async throws {
        // Lives until the group shuts down (the proxies stop first: services stop in reverse).
        try? await gracefulShutdown()
        try await client.shutdown()
        try await eventLoopGroup.shutdownGracefully()
    }
}

/// One proxy's HTTP server, its connection tasks run on the proxies' event loop.
struct ProxyServer<Responder: HTTPResponder>: Service
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    let application: Application<Responder>
    let executor: EventLoopGroupTaskExecutor

    func run() async throws {
        // Hummingbird runs each connection in a child task of `run`'s task group, and child tasks
        // inherit the preference: requests are read, proxied and answered on the event loop.
        try await withTaskExecutorPreference(executor) {
            try await application.run()
        }
    }
}

/// Runs Swift tasks on the proxies' event loops, each job on the loop of the thread that
/// enqueued it (the loop whose channel event woke the task) or, from any other thread, on the
/// next loop. A connection's task thus follows its channel: what it awaits completes on its
/// loop, and it resumes there instead of waking a cooperative-pool thread. Nothing that blocks
/// may run here (the proxy's blocking work, the spool append, runs on the agent's I/O thread
/// pool from an unstructured task, which does not inherit the preference).
final class EventLoopGroupTaskExecutor: TaskExecutor {
    let group: MultiThreadedEventLoopGroup
    private let loops: [any EventLoop]

    init(group: MultiThreadedEventLoopGroup) {
        self.group = group
        loops = group.makeIterator().map { $0 }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        let loop = loops.first { $0 === current } ?? group.next()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
