import AsyncHTTPClient
import Hummingbird
public import Logging
public import ModelUsage
import NIOCore
import NIOHTTP1
public import ServiceLifecycle
public import WatcherModel
import WatcherProto

/// The metering proxies (DESIGN §5): one HTTP server per component with a `proxy`, on the
/// agent's `listen_address` and the proxy's `listen_port`, in front of an Ollama or
/// OpenAI-compatible server. Every request and response passes through unchanged and streamed
/// chunk by chunk (hop-by-hop headers excepted); the responses of model calls are read on the
/// way for model, tokens, latency and time to first byte, which go to the `UsageRecorder`.
public enum MeteringProxy {
    /// One server per proxied component, plus the HTTP client they share (shut down last).
    public static func services(
        config: Config,
        recorder: UsageRecorder,
        metrics: [ProxyMetrics],
        logger: Logger
    ) -> [any Service] {
        let proxied = config.components.filter { $0.proxy != nil }
        guard !proxied.isEmpty else { return [] }
        let client = UpstreamClient()
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
                logger: logger
            )
            services.append(
                Application(
                    responder: responder,
                    configuration: .init(
                        address: .hostname(config.listenAddress, port: proxy.listenPort),
                        serverName: nil
                    ),
                    logger: logger
                )
            )
        }
        return services
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
/// redirects not followed (the client sees them), connections kept and reused.
final class UpstreamClient: Service, Sendable {
    let client: HTTPClient

    init() {
        var configuration = HTTPClient.Configuration()
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(600))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: 256
        )
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func run() async throws {
        // Lives until the group shuts down (the proxies stop first: services stop in reverse).
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
