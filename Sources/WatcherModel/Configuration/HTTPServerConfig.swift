/// Limits of the agent's two HTTP servers (`http`): how long a connection may take to send a
/// request and how long it may sit idle, and how many may be open at once. They keep one client
/// (a slow or hostile one) from holding sockets and memory without limit.
public struct HTTPServerConfig: Sendable, Equatable {
    /// Seconds a connection has to send a whole request head, from its first byte, or from being
    /// accepted (`head_timeout_seconds`).
    public var headTimeoutSeconds: Double
    /// Seconds a request has to send its whole body after its head (`body_timeout_seconds`).
    public var bodyTimeoutSeconds: Double
    /// Seconds a kept-alive connection may wait for its next request (`idle_timeout_seconds`).
    public var idleTimeoutSeconds: Double
    /// Connections open at once per server (`max_connections`). A connection over the cap closes
    /// the one that has waited longest without a request in progress, or is itself closed when
    /// every connection is busy.
    public var maxConnections: Int

    /// 10 s head, 30 s body, 60 s idle, 1,024 connections.
    public init(
        headTimeoutSeconds: Double = 10,
        bodyTimeoutSeconds: Double = 30,
        idleTimeoutSeconds: Double = 60,
        maxConnections: Int = 1024
    ) {
        self.headTimeoutSeconds = headTimeoutSeconds
        self.bodyTimeoutSeconds = bodyTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxConnections = maxConnections
    }

    public var headTimeout: Duration { .seconds(headTimeoutSeconds) }
    public var bodyTimeout: Duration { .seconds(bodyTimeoutSeconds) }
    public var idleTimeout: Duration { .seconds(idleTimeoutSeconds) }
}

extension HTTPServerConfig {
    static func decode(_ reader: inout ObjectReader) -> HTTPServerConfig {
        var http = HTTPServerConfig()
        http.headTimeoutSeconds = reader.double(
            "head_timeout_seconds",
            default: http.headTimeoutSeconds,
            in: 0.1...3600
        )
        http.bodyTimeoutSeconds = reader.double(
            "body_timeout_seconds",
            default: http.bodyTimeoutSeconds,
            in: 0.1...3600
        )
        http.idleTimeoutSeconds = reader.double(
            "idle_timeout_seconds",
            default: http.idleTimeoutSeconds,
            in: 0.1...86_400
        )
        http.maxConnections = reader.int("max_connections", default: http.maxConnections, in: 1...1_000_000)
        reader.finish()
        return http
    }
}
