public import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle

/// The two HTTP applications (DESIGN §8), as lifecycle services: the JSON API on `port` and the
/// Prometheus exposition on `metrics_port`, both on `listen_address`.
public enum StatusServer {
    /// The `:5220` API and `:5221/metrics` applications for `state`.
    public static func services(state: StatusState, logger: Logger) -> [any Service] {
        let config = state.config
        let api = Application(
            router: StatusRoutes.router(state: state),
            server: state.apiConnections.http1Server(),
            configuration: .init(address: .hostname(config.listenAddress, port: config.port), serverName: nil),
            logger: logger
        )
        let metrics = Application(
            router: metricsRouter(state: state),
            server: state.metricsConnections.http1Server(),
            configuration: .init(address: .hostname(config.listenAddress, port: config.metricsPort), serverName: nil),
            logger: logger
        )
        return [api, metrics]
    }

    /// `GET /metrics` in the Prometheus text format 0.0.4.
    public static func metricsRouter(state: StatusState) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorShapeMiddleware(routes: ["/metrics": [.get]]))
        router.get("/metrics") { request, _ in
            try state.authenticator.authenticateScrape(authorization: request.headers[.authorization])
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: MetricsExposition.text(state: state)))
            )
        }
        return router
    }
}
